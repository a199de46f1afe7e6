/**
 * The language explanations are written in: the `locale` parameter when the request gives one, otherwise the
 * best language of the Accept-Language header (RFC 9110 §12.5.4) that we write, otherwise English. Pure.
 */

/** Languages the explainers write. */
export const EXPLANATION_LOCALES = ['en', 'fr'] as const;
export type ExplanationLocale = (typeof EXPLANATION_LOCALES)[number];
export const DEFAULT_LOCALE: ExplanationLocale = 'en';

/** Accept-Language entries looked at: a real browser sends a handful, anything beyond is noise. */
const MAX_ACCEPT_LANGUAGE_ENTRIES = 20;

/** The language we write for a BCP 47 tag ('fr', 'fr-CA', 'EN-gb'), by its primary subtag, if we write it. */
export function supportedLocale(tag: string): ExplanationLocale | undefined {
  const primary = tag.trim().split(/[-_]/, 1)[0]!.toLowerCase();
  return EXPLANATION_LOCALES.find((locale) => locale === primary);
}

/**
 * An explicit `locale` decides on its own (a language we don't write yet gets English, not the header's
 * choice, so that asking for one language never silently yields another the client did not name).
 */
export function resolveLocale(
  requested: string | undefined,
  acceptLanguage: string | undefined,
): ExplanationLocale {
  if (requested !== undefined && requested.trim() !== '') return supportedLocale(requested) ?? DEFAULT_LOCALE;
  return acceptLanguage === undefined
    ? DEFAULT_LOCALE
    : (fromAcceptLanguage(acceptLanguage) ?? DEFAULT_LOCALE);
}

/** The supported language of highest weight in an Accept-Language value; `*` and q=0 choose nothing. */
export function fromAcceptLanguage(header: string): ExplanationLocale | undefined {
  const entries = header
    .split(',')
    .slice(0, MAX_ACCEPT_LANGUAGE_ENTRIES)
    .map((entry, order) => {
      const [tag = '', ...parameters] = entry.split(';');
      const q = parameters.map((p) => /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)).find(Boolean);
      return { locale: supportedLocale(tag), weight: q ? Number(q[1]) : 1, order };
    })
    .filter((entry) => entry.locale !== undefined && entry.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.order - b.order);
  return entries[0]?.locale;
}
