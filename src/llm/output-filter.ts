/**
 * The one check every string a language model writes passes before a client sees it: explanations, chat
 * replies (sentence by sentence), the fields of a chat query a model parsed, and whatever a model writes
 * next. What a model writes is treated as hostile (a poisoned catalog may have steered it; the
 * OpenAI-compatible server may be fake or compromised): it must be plain text on one line, with no markup,
 * no link, address or phone number, no request for credentials or payment, no control, direction-changing
 * or invisible character, and no run of the instructions the model was given. The caller drops what fails,
 * or writes a template instead. Pure: no I/O.
 */

/** What one model-written text must satisfy besides being plain. */
export interface ModelTextRules {
  /** Characters at most, once tidied. */
  maxLength: number;
  /** The instructions the model was given (fixed text): the text may not repeat a run of their words. */
  instructions?: readonly string[] | undefined;
}

export type ModelTextCheck = { ok: true; text: string } | { ok: false; problem: string };

/**
 * Consecutive words of the instructions that, found in a text, mean the prompt leaked. Fewer catch a
 * paraphrased leak but refuse ordinary sentences that share a phrase with the prompt; more let a leak
 * through in pieces.
 */
const LEAK_SHINGLE_WORDS = 5;
/** A shorter text is a leak only when it is, whole, a run of the instructions of at least this many words. */
const LEAK_MIN_WORDS = 3;
/**
 * Digits that make a number a phone number (separators and a leading + aside). Seven is the shortest
 * subscriber number in use; below it, years ("1999"), counts and running times stay; above it, a French
 * "1 000 000" is refused too, which a one-line explanation or reply rarely needs.
 */
const PHONE_MIN_DIGITS = 7;

// C0 and C1 controls and DEL, except the whitespace ones (tab, line feed, vertical tab, form feed,
// carriage return), which tidying turns into spaces.
const CONTROL = /(?![\t\n\v\f\r])\p{Cc}/u;
// Unicode's bidirectional formatting characters: embeddings, overrides, isolates and the marks.
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/**
 * Characters that show nothing (or nothing where they are) and can hide text or split a word past a
 * check: Unicode's default-ignorable code points (zero-width space, joiners, word joiner, soft hyphen, BOM,
 * variation selectors, Hangul fillers, the tag characters used for ASCII smuggling...), the rest of the
 * format category, private use, the braille blank and the noncharacters.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Co}\u2800\ufdd0-\ufdef\ufffe\uffff]/u;

/** Markup: HTML, Markdown (strong, emphasis, code, links, headings, lists, quotes) and character references. */
const MARKUP: readonly RegExp[] = [
  /[<>`{}[\]]/,
  /\*\*|__|~~/,
  // Emphasis around a word ("*this*", "_this_"), not an asterisk inside one ("M*A*S*H").
  /(?:^|\s)[*_][^\s*_]|[^\s*_][*_](?:\s|$)/,
  /^(?:#{1,6}|[-*+•>]|\d{1,3}[.)])\s/,
  /&(?:#\d+|#x[\da-f]+|[a-z][a-z\d]*);/i,
];

/** Top-level domains of a name written without a scheme ("example.com"): the common and the abused. */
const DOMAIN_ENDINGS = (
  'com net org info biz io co ai app dev me tv ly gg xyz online site top shop store link click live club ' +
  'vip fun win buzz icu cc ws to su ru cn uk us ca au de fr be ch nl es it eu in jp br mx pl tk ml ga cf ' +
  'gq pw zip mov page'
).split(' ');

/** Links and addresses, with or without a scheme, and their usual disguises. */
const LINKS: readonly RegExp[] = [
  /\b[a-z][a-z\d+.-]*:\/\//i,
  /(?:java|vb|live)script\s*:|data:\s*[\w.+-]+\/|\bfile:\/|\b(?:https?|ftps?|mailto|tel|sms|callto|intent|blob|wss?):/i,
  /(?<!\p{L})www\d{0,3}\./iu,
  /@[\p{L}\p{N}_]/u,
  new RegExp(`[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,62})\\.(?:${DOMAIN_ENDINGS.join('|')})(?!\\p{L})`, 'iu'),
  /[\p{L}\p{N}-]\.[a-z]{2,24}\/[\p{L}\p{N}]/iu,
  /\b\d{1,3}(?:\.\d{1,3}){3}\b/,
  /\b(?:dot|point)\s+(?:com|net|org|fr|io)\b|\(\s*dot\s*\)/i,
];

/** A run of digits with the separators phone numbers are written with; a leading + or ( belongs to it. */
const DIGIT_RUN = /[+(]?\d(?:[\s().-]{0,3}\d)*/g;
/** Digit runs that are not phone numbers: a range of years ("1999-2005") and an ISO date. */
const NOT_A_PHONE = /^(?:(?:1[5-9]|20)\d\d\s*-\s*(?:1[5-9]|20)\d\d|\d{4}-\d\d-\d\d)$/;

/**
 * Requests for credentials, payment or contact, in English and French, matched against the text lower-cased
 * without accents or punctuation (single spaces, a space at each end). Narrow phrases rather than single
 * words, so that a thriller's "bank heist" or "Call Me by Your Name" still reads; a plot about a stolen
 * password costs one sentence, which the template replaces.
 */
const SOLICITATION = new RegExp(
  ` (?:${[
    // Secrets.
    'pass ?words?|passcodes?|passphrases?|your pin|pin (?:codes?|numbers?)|one time (?:codes?|pass ?words?|pin)',
    'otp|verification codes?|security (?:codes?|questions?)|2fa|two factor|maiden name|seed phrase',
    'recovery phrase|private key|log ?in (?:details|credentials|info|information)|login|sign ?in details',
    'your (?:username|user name|credentials)|mots? de passe|code (?:pin|secret|confidentiel|de securite)',
    'code (?:de verification|d acces|a usage unique)|identifiants?',
    // Cards, banks, payment.
    '(?:card|account|routing|sort|social security|national insurance|iban|swift|bic) (?:numbers?|codes?)',
    '(?:credit|debit|bank|payment|gift|prepaid) cards?|card (?:details|info|information)|cvv2?|cvc2?',
    '(?:expiry|expiration) date|bank (?:details|transfer|login|info|information)|your bank account|iban|ssn',
    'banking (?:details|info|information)|wire (?:transfer|the money|money)|social security',
    '(?:payment|billing) (?:details|info|information|method|problem|issue)|crypto wallet|wallet address',
    'pay (?:now|a fee|the fee|to unlock)|numero de (?:carte|compte|securite sociale|cb)|votre rib',
    'carte (?:bancaire|de credit|bleue|cb|cadeau|de paiement)|cryptogramme|date d expiration',
    '(?:coordonnees|informations|donnees|references) bancaires|virement|securite sociale|payez',
    'frais de deblocage',
    // Accounts that need "fixing".
    '(?:verify|confirm|validate|update|unlock|reactivate|restore) your (?:account|identity|details|payment|billing|card|information|info|login|subscription)',
    '(?:account|subscription|membership) (?:is|has been|was|will be|got|gets) (?:suspended|locked|blocked|closed|disabled|deactivated|terminated|frozen|compromised|on hold)',
    '(?:suspended|locked|blocked) (?:account|subscription)',
    '(?:verifiez|confirmez|validez|mettez a jour|debloquez|reactivez) (?:votre|vos) (?:compte|identite|informations|coordonnees|paiement|carte|abonnement)',
    '(?:compte|abonnement) (?:est |a ete |sera |va etre )?(?:suspendu|bloque|desactive|ferme|verrouille|gele|resilie)',
    // Asking for something of the reader's, or to be contacted.
    '(?:give|send|enter|share|provide|type|tell|submit|reply with|text) (?:me |us )?your (?:password|pin|card|account|bank|details|code|login|credentials|number|information|info|id|identity|address)',
    '(?:donnez|envoyez|entrez|saisissez|communiquez|indiquez|fournissez|tapez|confirmez)(?: nous| moi)? (?:votre|vos) (?:mot|code|carte|numero|compte|identifiant|coordonnees|informations)',
    'call us|text us|contact us|contact support|whatsapp|appelez (?:nous|le|ce numero|notre)',
    'contactez (?:nous|le service|notre)',
  ].join('|')}) `,
);

/** Whether a text can be shown as what a model wrote, and in what form (see ModelTextCheck). */
export function checkModelText(text: string, rules: ModelTextRules): ModelTextCheck {
  const fail = (problem: string): ModelTextCheck => ({ ok: false, problem });
  const character = characterProblem(text);
  if (character) return fail(character);
  const tidied = tidy(text);
  if (tidied === '') return fail('empty');
  if (tidied.length > rules.maxLength) return fail(`longer than ${rules.maxLength} characters`);
  // Compatibility forms fold into what they look like: a full-width "＜" is a "<", "ｗｗｗ．" is "www.".
  const folded = tidied.normalize('NFKC');
  if (MARKUP.some((pattern) => pattern.test(folded))) return fail('markup');
  if (LINKS.some((pattern) => pattern.test(folded))) return fail('a link or an address');
  if (hasPhoneNumber(folded)) return fail('a phone number');
  if (SOLICITATION.test(` ${normaliseForMatch(folded)} `))
    return fail('asks for credentials, payment or contact');
  if (rules.instructions?.some((instructions) => leaksInstructions(tidied, instructions)))
    return fail('repeats its instructions');
  return { ok: true, text: tidied };
}

/**
 * Why the text's characters cannot be shown (a lone surrogate, a control, bidirectional or invisible
 * character), or undefined. Also for text that is not a model's but is quoted beside it (catalog titles).
 */
export function characterProblem(text: string): string | undefined {
  if (!text.isWellFormed()) return 'a lone surrogate';
  if (CONTROL.test(text)) return 'a control character';
  if (BIDI.test(text)) return 'a bidirectional control character';
  if (INVISIBLE.test(text)) return 'an invisible character';
  return undefined;
}

/**
 * Whether a text contains a run of LEAK_SHINGLE_WORDS consecutive words of the instructions, or is, whole,
 * a shorter run of them (LEAK_MIN_WORDS at least: "No lists, no markup.").
 */
export function leaksInstructions(text: string, instructions: string): boolean {
  const known = normaliseForMatch(instructions);
  const said = normaliseForMatch(text);
  const saidWords = said.split(' ');
  if (saidWords.length >= LEAK_MIN_WORDS && saidWords.length < LEAK_SHINGLE_WORDS)
    return ` ${known} `.includes(` ${said} `);
  const words = known.split(' ');
  const shingles = new Set<string>();
  for (let n = 0; n + LEAK_SHINGLE_WORDS <= words.length; n++)
    shingles.add(words.slice(n, n + LEAK_SHINGLE_WORDS).join(' '));
  for (let n = 0; n + LEAK_SHINGLE_WORDS <= saidWords.length; n++)
    if (shingles.has(saidWords.slice(n, n + LEAK_SHINGLE_WORDS).join(' '))) return true;
  return false;
}

/** Lower case, accents and punctuation gone, single spaces: how titles and phrases are compared. */
export function normaliseForMatch(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The caps of a reply a model writes in sentences, and what it must not repeat. */
export interface ModelReplyRules {
  /** Sentences shown at most. */
  maxSentences: number;
  /** Characters of the whole reply at most, the spaces between sentences included. */
  maxLength: number;
  /** Characters of one sentence at most. */
  sentenceMaxLength: number;
  /** Sentences read at most, shown or not: past them the model is not answering and is not read further. */
  maxRead: number;
  instructions?: readonly string[] | undefined;
}

export interface ModelReplyFilter {
  /** Counts the sentence as read and checks it alone (see checkModelText). */
  check(sentence: string): ModelTextCheck;
  /**
   * Adds a checked sentence to the reply; false when it would make the reply too long, which ends the
   * reply (a later, shorter sentence would no longer follow what was shown).
   */
  admit(text: string): boolean;
  /** Whether the reply is at one of its caps: the caller stops reading the model. */
  readonly full: boolean;
}

/** The check of a reply written (and streamed) sentence by sentence. */
export function createModelReplyFilter(rules: ModelReplyRules): ModelReplyFilter {
  let read = 0;
  let shown = 0;
  let length = 0;
  let ended = false;
  return {
    check(sentence) {
      read++;
      return checkModelText(sentence, {
        maxLength: rules.sentenceMaxLength,
        instructions: rules.instructions,
      });
    },
    admit(text) {
      const longer = length + (shown > 0 ? 1 : 0) + text.length;
      if (ended || shown >= rules.maxSentences || longer > rules.maxLength) {
        ended = true;
        return false;
      }
      shown++;
      length = longer;
      return true;
    },
    get full() {
      return ended || shown >= rules.maxSentences || read >= rules.maxRead;
    },
  };
}

/** NFC, whitespace runs as one space (a lone no-break space kept, as French typography uses it), trimmed. */
function tidy(text: string): string {
  return text
    .normalize('NFC')
    .replace(/\s+/g, (run) => (run === '\u00a0' || run === '\u202f' ? run : ' '))
    .trim();
}

function hasPhoneNumber(text: string): boolean {
  for (const [run] of text.matchAll(DIGIT_RUN)) {
    const digits = run.replace(/\D/g, '').length;
    if (digits >= PHONE_MIN_DIGITS && !NOT_A_PHONE.test(run.replace(/^\(/, ''))) return true;
  }
  return false;
}
