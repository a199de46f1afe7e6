// Country names (as catalogs export them) to ISO 3166-1 alpha-2 codes, the spelling Marquee's `regions`
// and its `region` filter use. The names come from the runtime's own CLDR data (Intl.DisplayNames), so no
// table is kept here but for the names CLDR spells otherwise or no longer lists.

const ALIASES: ReadonlyMap<string, string> = new Map([
  ['czech republic', 'CZ'],
  ['turkey', 'TR'],
  ['hong kong', 'HK'],
  ['palestine', 'PS'],
  ['west germany', 'DE'],
  ['east germany', 'DE'],
  // Exceptionally reserved in ISO 3166-1 for the former Soviet Union.
  ['soviet union', 'SU'],
  ['usa', 'US'],
  ['uk', 'GB'],
  ['great britain', 'GB'],
  ['south korea', 'KR'],
  ['north korea', 'KP'],
  ['russia', 'RU'],
  ['vietnam', 'VN'],
  ['iran', 'IR'],
  ['syria', 'SY'],
]);

let byName: Map<string, string> | undefined;

function namesToCodes(): Map<string, string> {
  if (byName) return byName;
  byName = new Map(ALIASES);
  const display = new Intl.DisplayNames(['en'], { type: 'region' });
  for (let first = 65; first <= 90; first++)
    for (let second = 65; second <= 90; second++) {
      const code = String.fromCharCode(first, second);
      let name: string | undefined;
      try {
        name = display.of(code);
      } catch {
        continue;
      }
      // An unknown code comes back as itself.
      if (name && name !== code && !byName.has(name.toLowerCase())) byName.set(name.toLowerCase(), code);
    }
  return byName;
}

/** The ISO 3166-1 alpha-2 code of a country name or code, or undefined when it is neither. */
export function countryCode(text: string): string | undefined {
  const trimmed = text.trim();
  if (/^[A-Za-z]{2}$/.test(trimmed)) return trimmed.toUpperCase();
  return namesToCodes().get(trimmed.toLowerCase().replace(/\s+/g, ' '));
}
