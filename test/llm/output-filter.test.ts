import fc from 'fast-check';
import t from 'tap';
import { explanationInstructions } from '../../src/explain/llm-explainer.ts';
import {
  characterProblem,
  checkModelText,
  createModelReplyFilter,
  leaksInstructions,
} from '../../src/llm/output-filter.ts';

// The one filter every model-written string passes: the hostile outputs of issue 16 (finding 5), each
// refused, and the ordinary sentences of explanations and replies, in English and French, each let through.

const check = (text: string, instructions?: string[]) =>
  checkModelText(text, { maxLength: 240, instructions });
const refused = (text: string) => {
  const checked = check(text);
  return checked.ok ? undefined : checked.problem;
};

t.test('the hostile outputs of the issue are refused, each for what it is', async (t) => {
  const cases: [string, RegExp][] = [
    // Explanations accepted as source "llm".
    ['Open javascript:alert(1) to see why this space adventure fits you.', /link/],
    ['[Why you will love it](javascript:alert(1)) says it all.', /markup/],
    ['**A must-watch** for fans of space adventures.', /markup/],
    ['A gripping space ride \u202eyalp ot kcilc for fans of Alien.', /bidirectional/],
    ['A gripping space\u200b ride for fans of Alien.', /invisible/],
    ['A gripping space ride\u0007 for fans of Alien.', /control/],
    [
      'Your account is suspended: call 0800 555 0199 and give your password to keep watching.',
      /phone|credentials/,
    ],
    ['Your account is suspended: reply with your password to keep watching.', /credentials/],
    // Chat: parsed fields and replies.
    ['<script>x</script>', /markup/],
    ['As "<img src=x onerror=alert(1)>" says, this one is a must.', /markup/],
    ['Call +1 800 555 0199 and give your card number', /phone/],
    ['Please give your card number to unlock the list.', /credentials/],
  ];
  for (const [text, problem] of cases) t.match(refused(text), problem, JSON.stringify(text));
});

t.test('markup of every kind', async (t) => {
  for (const text of [
    'A <b>bold</b> choice.',
    'A full-width \uff1cscript\uff1e disguise.',
    'Some `code` here.',
    '```js\nalert(1)\n```',
    '__Strong__ words.',
    'An *emphasised* word.',
    'A _quiet_ word.',
    '~~Struck~~ words.',
    '# A heading',
    '- a list item',
    '* a list item',
    '1. a numbered item',
    '> a quotation',
    'A {template} value.',
    'An &lt;escaped&gt; tag.',
    'An &#60;escaped&#62; tag.',
  ])
    t.equal(refused(text), 'markup', JSON.stringify(text));
});

t.test('links and addresses, with or without a scheme', async (t) => {
  for (const text of [
    'See https://example.com for more.',
    'See http://example.com for more.',
    'See HTTPS://EXAMPLE.COM for more.',
    'Run javascript :alert(1) now.',
    'Open data:text/html;base64,PHNjcmlwdD4 now.',
    'Open vbscript:msgbox now.',
    'Open file:///etc/passwd now.',
    'Write to mailto:someone now.',
    'Visit www.example.org today.',
    'Visit example.com today.',
    'Visit marquee-films.fr today.',
    'Visit bit.ly/abc today.',
    'Visit example.museum/path today.',
    'Write to someone@example.com today.',
    'Follow @marquee for more.',
    'Connect to 192.168.0.1 today.',
    'Visit example dot com today.',
    'Visit example(dot)com today.',
    'Visit \uff57\uff57\uff57\uff0eexample\uff0ecom today.',
    'Go to ftp://files.example.net now.',
  ])
    t.equal(refused(text), 'a link or an address', JSON.stringify(text));
});

t.test('control, bidirectional, invisible characters and lone surrogates', async (t) => {
  const controls = ['\0', '\u0007', '\u0008', '\u001b', '\u007f', '\u0085', '\u009b'];
  const bidi = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];
  const marks = ['\u200e', '\u200f', '\u061c'];
  const invisible = [
    '\u200b',
    '\u200c',
    '\u200d',
    '\u2060',
    '\u2062',
    '\ufeff',
    '\u00ad',
    '\u180e',
    '\u034f',
    '\u3164',
    '\ufe0f',
    '\u{e0041}',
    '\ue000',
  ];
  for (const c of controls) t.equal(refused(`A fine${c} film.`), 'a control character', escape(c));
  for (const c of [...bidi, ...marks])
    t.equal(refused(`A fine${c} film.`), 'a bidirectional control character', escape(c));
  for (const c of invisible) t.equal(refused(`A fine${c} film.`), 'an invisible character', escape(c));
  t.equal(refused('A fine \ud800 film.'), 'a lone surrogate');
  t.equal(refused('A fine \udfff film.'), 'a lone surrogate');
  t.equal(characterProblem('Amélie, « Le Fabuleux Destin », 2001'), undefined);
});

t.test('phone numbers, but not years, decades, counts or running times', async (t) => {
  for (const text of [
    'Call +1 800 555 0199 now.',
    'Call 1-800-555-0199 now.',
    'Call (800) 555-0199 now.',
    'Call 800.555.0199 now.',
    'Appelez le 01 23 45 67 89 maintenant.',
    'Appelez le +33 (0)1 23 45 67 89 maintenant.',
    'Ring 5550199 now.',
    'Ring 555 0199 now.',
  ])
    t.equal(refused(text), 'a phone number', text);
  for (const text of [
    'A 1999 classic that defined the 1980s revival.',
    'From 1990 to 1999, the decade of the blockbuster.',
    'The series (1999-2005) still holds up.',
    'Released on 2019-05-12, it runs 2 h 30.',
    'It runs 142 minutes and 12 viewers started it this week.',
    '1 viewer has started it in the last 24 hours.',
    'Its 3 seasons and 36 episodes fly by.',
    'Seen by 12,345,678 people.',
  ])
    t.same(check(text), { ok: true, text }, text);
});

t.test('requests for credentials, payment or contact, in English and French', async (t) => {
  for (const text of [
    'Enter your password to keep watching.',
    'Confirm your PIN code to continue.',
    'Your PIN is needed to continue.',
    'Send us your credit card details today.',
    'We need the CVV on the back of your card.',
    'Share your bank details to unlock it.',
    'Please verify your account to continue.',
    'Your account has been locked until you act.',
    'Your subscription is suspended for now.',
    'Provide your social security number now.',
    'Your login details are needed.',
    'Type the one-time code we sent you.',
    'Contact us on WhatsApp for more.',
    'Call us today for a free month.',
    'Pay now to unlock the full list.',
    'Saisissez votre mot de passe pour continuer.',
    'Votre compte est suspendu : répondez vite.',
    'Votre compte a été bloqué, confirmez votre identité.',
    'Donnez-nous votre numéro de carte bancaire.',
    'Indiquez vos coordonnées bancaires pour continuer.',
    'Le code de vérification vous a été envoyé.',
    'Appelez-nous pour débloquer la liste.',
  ])
    t.equal(refused(text), 'asks for credentials, payment or contact', text);
});

t.test('ordinary explanations and replies pass, tidied', async (t) => {
  for (const text of [
    'Since you finished "Alien", the science fiction of Gravity should pull you in.',
    'Because you watched \u201cThe Martian\u201d, this survival story in orbit fits your taste.',
    'Here are picks that fit what you asked. "Orbit Down" and "Space Rescue" lead the list.',
    'Call Me by Your Name is a tender romance for a quiet evening.',
    'A rib-tickling comedy about a bank heist gone wrong.',
    'M*A*S*H remains a classic of wartime comedy.',
    'Here is what it is about: two astronauts adrift after an accident.',
    'Parce que vous avez aimé «\u00a0Amélie\u00a0», cette comédie française à l\u2019ambiance rêveuse vous plaira.',
    'Voici 3 films de science-fiction des années 1980\u00a0: «\u00a0E.T.\u00a0» ouvre la liste.',
    'Un thriller haletant, où chaque épisode révèle un secret de famille.',
    'E.T. and U.S. agents in a small town, 115 minutes of wonder.',
  ])
    t.same(check(text), { ok: true, text }, text);
  t.same(check('  A   film\n\tfor   tonight.  '), { ok: true, text: 'A film for tonight.' }, 'whitespace');
  t.same(check('Ame\u0301lie, a dream.'), { ok: true, text: 'Am\u00e9lie, a dream.' }, 'NFC');
  t.same(check('x'.repeat(240)), { ok: true, text: 'x'.repeat(240) });
  t.same(check('x'.repeat(241)), { ok: false, problem: 'longer than 240 characters' });
  t.same(check(' \n '), { ok: false, problem: 'empty' });
});

t.test('the instruction-leak check: a run of five words of the instructions', async (t) => {
  const instructions = explanationInstructions('en', 'personal');
  const line = instructions.split('\n')[0]!;
  t.equal(refused(line), undefined, 'without instructions given, a leak is not recognised');
  t.same(check(line, [instructions]), { ok: false, problem: 'repeats its instructions' });
  t.same(check(`Sure! ${line.toUpperCase()}`, ['unrelated text', instructions]), {
    ok: false,
    problem: 'repeats its instructions',
  });
  t.ok(leaksInstructions('they said: write why this viewer may like', instructions));
  t.notOk(leaksInstructions('why this viewer may enjoy it', instructions), 'four words in a row are not');
  t.ok(leaksInstructions('No markup, no emoji!', instructions), 'but a whole short sentence of them is');
  t.notOk(leaksInstructions('No emoji.', instructions), 'if it has three words at least');
  t.ok(check('A tense thriller that this viewer may enjoy.', [instructions]).ok);
});

t.test('a reply: each sentence checked, the whole capped, the model not read past the caps', async (t) => {
  const rules = { maxSentences: 3, maxLength: 100, sentenceMaxLength: 60, maxRead: 5 };
  const reply = createModelReplyFilter(rules);
  const good = 'A short and plain sentence.';
  t.match(reply.check(good), { ok: true, text: good });
  t.ok(reply.admit(good));
  t.match(reply.check('Visit example.com now.'), { ok: false });
  t.match(reply.check('x'.repeat(61)), { ok: false, problem: /longer than 60/ });
  t.ok(reply.admit(good));
  t.notOk(reply.full);
  t.notOk(reply.admit('y'.repeat(50)), 'over the total length: refused');
  t.ok(reply.full, 'and the reply ends there');
  t.notOk(reply.admit(good), 'even for a short one after it');

  const counted = createModelReplyFilter(rules);
  for (let n = 0; n < 3; n++) t.ok(counted.admit(good));
  t.ok(counted.full, 'at most three sentences');
  t.notOk(counted.admit(good));

  const noisy = createModelReplyFilter(rules);
  for (let n = 0; n < 5; n++) noisy.check('Call +1 800 555 0199 now.');
  t.ok(noisy.full, 'five sentences read, none shown: the model is not read further');
});

t.test('whatever the input, an accepted text is plain', async (t) => {
  const hostile = [
    '<',
    '>',
    '\u0007',
    '\0',
    '\u001b',
    '\u0085',
    '\u202e',
    '\u2066',
    '\u200f',
    '\u200b',
    '\u200d',
    '\ufeff',
    '\u00ad',
    '\u2060',
    '\ud800',
    '\udc00',
    '\u{e0041}',
    '\uff1c',
    '\ufe64',
  ];
  const piece = fc.oneof(
    fc.constantFrom(...hostile),
    fc.constantFrom('the', 'film', '"Alien"', '1999', 'call', 'www', '.', ':', 'com', ' ', '\n', '\u00a0'),
    fc.string({ unit: 'binary', maxLength: 4 }),
    fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
  );
  const forbidden =
    /(?![\t\n\v\f\r])\p{Cc}|[<>\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad\u{e0000}-\u{e007f}]/u;
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
      const checked = checkModelText(pieces.join(''), { maxLength: 500 });
      if (!checked.ok) return true;
      const { text } = checked;
      return (
        text.isWellFormed() &&
        !forbidden.test(text) &&
        !/[<>]/.test(text.normalize('NFKC')) &&
        !/\s\s|\n/.test(text.replace(/[\u00a0\u202f]/g, 'x')) &&
        text === text.trim() &&
        // Accepted once, accepted again as it is.
        checkModelText(text, { maxLength: 500 }).ok
      );
    }),
    { numRuns: 3_000 },
  );
  t.pass();
});

t.test('ordinary sentences of words, years and counts are never refused', async (t) => {
  const word = fc.constantFrom(
    'a',
    'the',
    'film',
    'série',
    'thriller',
    'comédie',
    'cosy',
    'viewers',
    'started',
    'because',
    'you',
    'watched',
    'ambiance',
    'années',
    'minutes',
    'heist',
    'bank',
    'account',
    'call',
    'pass',
  );
  const number = fc.oneof(fc.integer({ min: 1900, max: 2030 }), fc.integer({ min: 0, max: 999 }));
  fc.assert(
    fc.property(fc.array(fc.oneof(word, number.map(String)), { minLength: 1, maxLength: 20 }), (words) => {
      // Two numbers in a row read as one; a comma keeps them apart as a sentence would.
      const text = `${words.join(' ').replace(/(\d) (?=\d)/g, '$1, ')}.`;
      return check(text).ok;
    }),
    { numRuns: 1_000 },
  );
  t.pass();
});

function escape(text: string): string {
  return [...text].map((c) => `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`).join(' ');
}
