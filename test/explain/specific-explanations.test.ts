/**
 * Issue 19, item 5: template sentences name what the item shares with the evidence (people, themes,
 * genres, the viewers behind a co-view), vary across a page, get plurals right, never say "which you just
 * viewed" of a title only typed in a chat, and follow the learned ranker's strongest signal.
 */
import t from 'tap';
import { type TraitSource, sharedTraits } from '../../src/explain/shared-traits.ts';
import {
  type EvidenceItems,
  type ExplainableItem,
  explainWithTemplate,
  pageVariety,
} from '../../src/explain/template-explainer.ts';
import type { Reason } from '../../src/recommender/blend.ts';

const heat = {
  title: 'Heat',
  genres: ['Crime', 'Thriller'],
  credits: [
    { name: 'Michael Mann', role: 'director' },
    { name: 'Al Pacino', role: 'actor' },
    { name: 'Robert De Niro', role: 'actor' },
  ],
  description:
    'A detective hunts a crew of professional thieves planning one last bank heist in Los Angeles.',
};
const evidence: EvidenceItems = new Map<string, TraitSource & { title: string }>([
  ['heat', heat],
  [
    'alien',
    { title: 'Alien', genres: ['Horror', 'Sci-Fi'], description: 'The crew of a spaceship meets an alien.' },
  ],
]);
const item = (title: string, extra: Partial<ExplainableItem['item']> = {}): ExplainableItem['item'] => ({
  title,
  genres: ['Crime'],
  ...extra,
});
const reason = (source: Reason['source'], ids: string[], facts: Partial<Reason> = {}): Reason => ({
  source,
  detail: '',
  evidenceItemIds: ids,
  ...facts,
});

t.test('the traits two items share: people by role, themes from the lexicon, genres', async (t) => {
  const shared = sharedTraits(
    {
      genres: ['Thriller', 'Drama'],
      credits: [
        { name: 'al pacino ', role: 'Actor' },
        { name: 'Michael Mann', role: 'Director' },
        { name: 'Someone Else', role: 'actor' },
      ],
      description: 'Thieves plan a heist while a detective closes in.',
    },
    heat,
  );
  t.same(
    shared.people.map((person) => [person.name, person.role]),
    [
      ['Michael Mann', 'director'],
      ['al pacino', 'cast'],
    ],
    'directors first, names matched without case',
  );
  t.same(
    shared.themes.map((theme) => theme.id),
    ['heist', 'detective'],
  );
  t.same(shared.genres, ['Thriller']);
  const none = sharedTraits({ genres: ['Comedy'], description: 'An atheist finds a glove.' }, heat);
  t.same(
    [none.people, none.themes, none.genres],
    [[], [], []],
    'no stem inside another word, nothing shared',
  );
  const hostile = sharedTraits(
    { genres: ['__proto__'], credits: [{ name: '__proto__', role: 'actor' }] },
    { genres: ['__proto__'], credits: [{ name: '__proto__', role: 'actor' }] },
  );
  t.same(hostile.genres, ['__proto__'], 'hostile names are plain strings');
});

t.test('each sentence names what the item shares with the evidence', async (t) => {
  const collaborative = [reason('collaborative', ['heat'])];
  const cases: [ExplainableItem['item'], RegExp][] = [
    [item('Collateral', { credits: [{ name: 'Michael Mann', role: 'director' }] }), /Michael Mann/],
    [item('The Godfather', { credits: [{ name: 'Al Pacino', role: 'actor' }] }), /Al Pacino/],
    [item('Inside Man', { description: 'A bank heist turns into a hostage standoff.' }), /heist/],
    [item('Zodiac', { genres: ['Thriller'], description: 'Reporters chase a killer.' }), /Thriller/],
  ];
  for (const [shown, expected] of cases) {
    const { text, evidenceItemIds } = explainWithTemplate(
      { itemId: shown.title, item: shown, reasons: collaborative },
      evidence,
    );
    t.match(text, expected, text);
    t.match(text, /"Heat"/);
    t.same(evidenceItemIds, ['heat']);
  }
});

t.test('the viewers behind a co-view, with plurals right in both languages', async (t) => {
  const shown: ExplainableItem = {
    itemId: 'collateral',
    item: item('Collateral'),
    reasons: [reason('collaborative', ['heat', 'alien'])],
  };
  for (const [count, english, french] of [
    [1, /\b1 viewer (who|has)/, /1 spectateur qui a/],
    [1204, /1,204 viewers/, /1\u202f?\s?204 spectateurs qui ont/],
  ] as const) {
    const options = {
      coViewers: (itemId: string, evidenceId: string) =>
        itemId === 'collateral' && evidenceId === 'heat' ? count : undefined,
    };
    const en = explainWithTemplate(shown, evidence, options);
    t.match(en.text, english, en.text);
    t.notMatch(en.text, /\b1 viewers\b/);
    t.same(en.evidenceItemIds, ['heat'], 'a count is about one title: only that one is named');
    const fr = explainWithTemplate(shown, evidence, { ...options, locale: 'fr' });
    t.match(fr.text, french, fr.text);
  }
  const none = explainWithTemplate(shown, evidence, { coViewers: () => 0 });
  t.notMatch(none.text, /\b0 viewers?\b/, 'no count when nobody watched both');
});

t.test('a title only typed in a chat is never "which you just viewed"', async (t) => {
  for (const coViewed of [true, false])
    for (const itemId of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const shown: ExplainableItem = {
        itemId,
        item: item(`Film ${itemId}`),
        reasons: [reason('session', ['heat'], { coViewed, mentioned: true })],
      };
      for (const locale of ['en', 'fr']) {
        const { text } = explainWithTemplate(shown, evidence, { locale });
        t.notMatch(text, /just viewed|you enjoyed|venez de regarder|avez aimé/, text);
        t.match(text, /Heat/);
      }
    }
  const viewed = explainWithTemplate(
    { itemId: 'a', item: item('Film'), reasons: [reason('session', ['heat'], { coViewed: false })] },
    evidence,
  );
  t.match(viewed.text, /Heat/, 'a viewed title still reads as viewed');
});

t.test('a page of ten with the same reason does not read like a form letter', async (t) => {
  /** A page of ten items with the same reason, explained in page order. */
  const page = () => {
    const variety = pageVariety();
    return Array.from({ length: 10 }, (_, n) =>
      explainWithTemplate(
        {
          itemId: `item-${n}`,
          item: item(`Title ${n}`, { genres: ['Documentary'] }),
          reasons: [reason('vector', ['heat', 'alien'])],
        },
        evidence,
        { variety },
      ).text.replace(/Title \d/, 'X'),
    );
  };
  const texts = page();
  const leads = new Map<string, number>();
  for (const text of texts) {
    const lead = text.split('"')[0]!;
    leads.set(lead, (leads.get(lead) ?? 0) + 1);
  }
  t.ok(leads.size >= 3, `${leads.size} different openings: ${[...leads.keys()].join(' | ')}`);
  t.ok(Math.max(...leads.values()) <= 4, 'no opening used more than 4 times in 10');
  t.same(page(), texts, 'the same page reads the same');
});

t.test("the learned ranker's strongest signal chooses what the sentence leads with and adds", async (t) => {
  const reasons = [reason('popular', [], { viewers: 30, window: 'all-time' }), reason('vector', ['heat'])];
  const shown = (signals: ExplainableItem['signals']): ExplainableItem => ({
    itemId: 'x',
    item: item('Other', { genres: ['Comedy'] }),
    reasons,
    signals,
  });
  const content = explainWithTemplate(
    shown([{ feature: 'content.similarity', value: 0.8, lift: 0.5 }]),
    evidence,
  );
  t.match(content.text, /^[^,]*Heat/, `content leads: ${content.text}`);
  const popular = explainWithTemplate(shown([{ feature: 'popularity', value: 30, lift: 0.5 }]), evidence);
  const heatAt = popular.text.indexOf('Heat');
  t.ok(
    popular.text.includes('30 viewers') && (heatAt < 0 || popular.text.indexOf('30 viewers') < heatAt),
    `popularity leads: ${popular.text}`,
  );
  const rated = explainWithTemplate(
    {
      itemId: 'y',
      item: item('Rated', { genres: ['Comedy'] }),
      reasons: [reason('collaborative', ['heat'])],
      signals: [{ feature: 'item.rating', value: 0.86, lift: 0.4 }],
    },
    evidence,
  );
  t.match(rated.text, /rate it highly/, rated.text);
  const lowRated = explainWithTemplate(
    {
      itemId: 'y',
      item: item('Rated', { genres: ['Comedy'] }),
      reasons: [reason('collaborative', ['heat'])],
      signals: [{ feature: 'item.rating', value: 0.5, lift: 0.4 }],
    },
    evidence,
  );
  t.notMatch(lowRated.text, /rate it highly/, 'a middling rating is not called high');
});
