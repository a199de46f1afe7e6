import fc from 'fast-check';
import t from 'tap';
import { CANDIDATE_SOURCES } from '../../src/config.ts';
import { fromAcceptLanguage, resolveLocale } from '../../src/explain/locale.ts';
import {
  EXPLANATION_MAX_LENGTH,
  type EvidenceItems,
  type ExplainableItem,
  explainWithTemplate,
} from '../../src/explain/template-explainer.ts';
import {
  blendCandidates,
  type Reason,
  type ReasonFacts,
  SEARCH_MATCHES,
  type SourceCandidates,
} from '../../src/recommender/blend.ts';
import {
  type CandidateStore,
  editorialCandidates,
  freshCandidates,
  popularCandidates,
  trendingCandidates,
} from '../../src/recommender/sources.ts';
import { REASON_SOURCES } from '../../src/schemas/recommendations.schema.ts';

const evidence: EvidenceItems = new Map([
  ['martian', { title: 'The Martian', genres: ['science fiction', 'drama'] }],
  ['alien', { title: 'Alien', genres: ['science fiction', 'horror'] }],
  ['interstellar', { title: 'Interstellar', genres: ['science fiction'] }],
  ['bake-off', { title: 'The Great Bake Off', genres: ['reality'] }],
]);
const movie = { title: 'Solaris Rising', genres: ['science fiction'], releaseDate: '2026-03-01' };

const reason = (
  source: Reason['source'],
  detail: string,
  evidenceItemIds: string[] = [],
  facts: ReasonFacts = {},
): Reason => ({ source, detail, evidenceItemIds, ...facts });
const entry = (itemId: string, reasons: Reason[], item = movie): ExplainableItem => ({
  itemId,
  item,
  reasons,
});

/** One reason of each source, as the engine writes them. */
const BY_SOURCE: Record<Reason['source'], { reason: Reason; cites: string[] }> = {
  collaborative: {
    reason: reason('collaborative', 'People who watched "The Martian" also watched this', ['martian']),
    cites: ['The Martian'],
  },
  vector: {
    reason: reason('vector', 'Close in story and style to "Alien", "Interstellar"', [
      'alien',
      'interstellar',
    ]),
    cites: ['Alien', 'Interstellar'],
  },
  trending: {
    reason: reason('trending', 'Trending this week: 1204 viewers', [], { viewers: 1204, window: 'week' }),
    cites: [],
  },
  popular: {
    reason: reason('popular', 'Popular: 87 viewers', [], { viewers: 87, window: 'all-time' }),
    cites: [],
  },
  fresh: {
    reason: reason('fresh', 'New 2026 release that matches your interests', ['interstellar']),
    cites: ['Interstellar'],
  },
  editorial: { reason: reason('editorial', 'Featured by our editors'), cites: [] },
  session: {
    reason: reason('session', 'Often watched right after "The Martian"', ['martian'], { coViewed: true }),
    cites: ['The Martian'],
  },
  exploration: {
    reason: reason('exploration', 'Outside your usual picks, to discover what else you like'),
    cites: [],
  },
  search: {
    reason: reason('search', 'Matches "solaris" in the title', [], { query: 'solaris', match: 'title' }),
    cites: [],
  },
};

t.test('every source gives one specific sentence naming its evidence', async (t) => {
  t.same(Object.keys(BY_SOURCE).sort(), [...REASON_SOURCES].sort(), 'a case for every reason source');
  for (const [source, { reason: r, cites }] of Object.entries(BY_SOURCE)) {
    for (const locale of ['en', 'fr']) {
      const explanation = explainWithTemplate(entry(`item-${source}`, [r]), evidence, { locale });
      const { text } = explanation;
      t.equal(explanation.source, 'template');
      t.ok(text.length > 10 && text.length <= EXPLANATION_MAX_LENGTH, `${source}/${locale}: ${text}`);
      t.notMatch(text, /recommended for you|recommandé pour vous/i, `${source}/${locale}: not generic`);
      for (const title of cites) t.ok(text.includes(title), `${source}/${locale} names "${title}"`);
      t.same(
        explanation.evidenceItemIds,
        r.evidenceItemIds.filter((id) => cites.includes(evidence.get(id)!.title)),
        `${source}/${locale}: evidenceItemIds are the items it names`,
      );
    }
  }
  const english = (source: Reason['source']) =>
    explainWithTemplate(entry(`item-${source}`, [BY_SOURCE[source].reason]), evidence).text;
  t.match(english('trending'), /this week/);
  t.match(english('trending'), /1,204 viewers/, 'the viewer count, formatted');
  t.match(english('popular'), /87 viewers/);
  t.match(english('fresh'), /2026/, 'the release year');
  t.match(english('fresh'), /science fiction/, 'the genre the user watches');
  t.match(english('editorial'), /editors/);
  t.match(english('session'), /The Martian/);
  t.match(english('exploration'), /usual|path/);
  t.match(english('search'), /"solaris"/, 'the query');
  t.match(english('search'), /title/, 'where it matched');
});

t.test('the sentences read the facts the sources set', async (t) => {
  const store: CandidateStore = {
    nearest: async () => [],
    neighbours: async () => new Map(),
    top: async (stat) =>
      stat === 'trending_week'
        ? [{ itemId: 'x', value: 5, users: 3_456 }]
        : [{ itemId: 'x', value: 9, users: 12 }],
    fresh: async () => [{ itemId: 'x', similarity: 0.9, releaseYear: 2026 }],
    boosted: async () => [{ itemId: 'x', boost: 2 }],
  };
  const query = { limit: 10, filters: {}, excludeIds: [] };
  const interest = { vector: new Float32Array([1, 0]), weight: 1, itemIds: ['alien'] };
  // As the engine passes them on: the blend copies the candidate's facts into its reason.
  const detailed = async (list: Promise<SourceCandidates>) =>
    blendCandidates([await list], { [(await list).source]: 1 })[0]!.reasons[0]!;
  const text = async (list: Parameters<typeof detailed>[0]) =>
    explainWithTemplate(entry('x', [await detailed(list)]), evidence).text;
  t.match(await text(trendingCandidates(store, query)), /this week.*3,456 viewers/);
  t.match(await text(popularCandidates(store, query)), /12 viewers/);
  t.match(await text(freshCandidates(store, interest, query, new Date('2026-06-01'))), /2026.*Alien/);
  t.match(await text(editorialCandidates(store, query)), /editors/);
  // Trending and popularity are the same live rows: no trend means no events, and no candidates.
  const nothing: CandidateStore = { ...store, top: async () => [] };
  t.same((await trendingCandidates(nothing, query)).candidates, []);
});

t.test('the top two reasons make one sentence when both say something', async (t) => {
  const both = explainWithTemplate(
    entry('pair', [BY_SOURCE.collaborative.reason, BY_SOURCE.trending.reason]),
    evidence,
  );
  t.match(both.text, /The Martian/);
  t.match(both.text, /1,204 viewers/);
  t.same(both.evidenceItemIds, ['martian']);

  const overlapping = explainWithTemplate(
    entry('overlap', [
      reason('collaborative', '', ['martian', 'alien']),
      reason('vector', '', ['alien', 'interstellar']),
    ]),
    evidence,
  );
  t.same(overlapping.evidenceItemIds, ['martian', 'alien', 'interstellar'], 'no title named twice');
  t.equal(overlapping.text.split('Alien').length - 1, 1, overlapping.text);

  const sameTitles = explainWithTemplate(
    entry('same', [reason('collaborative', '', ['martian']), reason('vector', '', ['martian'])]),
    evidence,
  );
  t.equal(sameTitles.text.split('The Martian').length - 1, 1, 'a second reason with nothing new is left out');

  const unknownEvidence = explainWithTemplate(
    entry('gone', [reason('collaborative', '', ['deleted-item']), BY_SOURCE.trending.reason]),
    evidence,
  );
  t.match(
    unknownEvidence.text,
    /^[^,]*(Trending|week)/,
    'a reason with no title to name gives the lead away',
  );
  t.same(unknownEvidence.evidenceItemIds, []);

  const exploring = explainWithTemplate(
    entry('explore', [BY_SOURCE.exploration.reason, BY_SOURCE.popular.reason]),
    evidence,
  );
  t.match(exploring.text, /usual|path/, 'an exploration pick says so first');
  t.match(exploring.text, /87 viewers/);
});

t.test('phrasing varies across items and is stable for one item', async (t) => {
  for (const source of ['collaborative', 'vector', 'trending', 'session', 'exploration'] as const) {
    const texts = new Set(
      Array.from(
        { length: 20 },
        (_, n) => explainWithTemplate(entry(`item-${n}`, [BY_SOURCE[source].reason]), evidence).text,
      ),
    );
    t.ok(texts.size >= 2, `${source}: ${texts.size} phrasings over 20 items`);
  }
  const collaborative = new Set(
    Array.from(
      { length: 20 },
      (_, n) => explainWithTemplate(entry(`item-${n}`, [BY_SOURCE.collaborative.reason]), evidence).text,
    ),
  );
  t.ok(collaborative.size >= 3, `collaborative: ${[...collaborative].join(' | ')}`);
  const again = () => explainWithTemplate(entry('stable', [BY_SOURCE.vector.reason]), evidence);
  t.same(again(), again());
});

t.test('French, and English for a language without templates', async (t) => {
  const reasons = [BY_SOURCE.vector.reason, BY_SOURCE.trending.reason];
  const fr = explainWithTemplate(entry('fr', reasons), evidence, { locale: 'fr-FR' });
  t.match(fr.text, /«\u00a0Alien\u00a0»/, 'titles in guillemets');
  t.match(fr.text, /que vous avez aimés|Si vous avez aimé|Dans la veine de|Proche par le ton/);
  t.match(fr.text, /1\s204 spectateurs/u, 'French number formatting');
  t.same(fr, explainWithTemplate(entry('fr', reasons), evidence, { locale: 'fr' }));
  t.same(
    explainWithTemplate(entry('fr', reasons), evidence, { locale: 'fr-CA' }).text,
    fr.text,
    'any French region',
  );
  const english = explainWithTemplate(entry('fr', reasons), evidence);
  t.not(english.text, fr.text);
  for (const locale of ['de', 'pt-BR', 'xx', '']) {
    t.same(
      explainWithTemplate(entry('fr', reasons), evidence, { locale }),
      english,
      `${locale || 'empty'} → en`,
    );
  }
  for (const [source, { reason: r }] of Object.entries(BY_SOURCE)) {
    const text = explainWithTemplate(entry(`fr-${source}`, [r]), evidence, { locale: 'fr' }).text;
    t.match(
      text,
      /[àéèêçœ«’]|\b(vous|les|des|une|avec|dans|par|de|la|le|en)\b/i,
      `${source} in French: ${text}`,
    );
  }
});

t.test('a session reason from content similarity does not claim people watched it next', async (t) => {
  for (let n = 0; n < 20; n++) {
    const byContent = explainWithTemplate(
      entry(`s-${n}`, [reason('session', 'Close to "The Martian"', ['martian'], { coViewed: false })]),
      evidence,
    ).text;
    t.notMatch(byContent, /watched right after|next step/, byContent);
    t.match(byContent, /The Martian/);
  }
  const coViewed = new Set(
    Array.from(
      { length: 20 },
      (_, n) =>
        explainWithTemplate(entry(`s-${n}`, [BY_SOURCE.session.reason]), evidence, { locale: 'fr' }).text,
    ),
  );
  t.ok(
    [...coViewed].some((text) => /juste après/.test(text)),
    [...coViewed].join(' | '),
  );
});

t.test('a "more like this" page does not claim the user enjoyed the seed', async (t) => {
  for (const n of [0, 1, 2, 3, 4, 5]) {
    const { text } = explainWithTemplate(
      entry(`similar-${n}`, [reason('vector', '', ['alien']), reason('collaborative', '', ['alien'])]),
      evidence,
      { context: 'similar' },
    );
    t.match(text, /Alien/);
    t.notMatch(text, /you enjoyed|you watch/, text);
  }
});

t.test('long titles and queries still give at most 240 characters', async (t) => {
  const long = (n: number) => `${'A very long title indeed '.repeat(12)}${n}`;
  const longEvidence: EvidenceItems = new Map(
    [1, 2, 3].map((n) => [`long-${n}`, { title: long(n), genres: ['science fiction'] }]),
  );
  for (const source of ['collaborative', 'vector', 'session', 'fresh'] as const) {
    for (const locale of ['en', 'fr']) {
      const explanation = explainWithTemplate(
        entry(`long-${source}`, [
          reason(source, '', ['long-1', 'long-2', 'long-3']),
          reason(source === 'vector' ? 'collaborative' : 'vector', '', ['long-3', 'long-2']),
        ]),
        longEvidence,
        { locale },
      );
      t.ok(
        explanation.text.length <= EXPLANATION_MAX_LENGTH,
        `${source}/${locale}: ${explanation.text.length}`,
      );
      t.ok(explanation.evidenceItemIds.length >= 1, 'still names one');
    }
  }
  const query = 'q'.repeat(500);
  const search = explainWithTemplate(
    entry('s', [reason('search', `Matches "${query}" in the title`, [], { query, match: 'title' })]),
    evidence,
  );
  t.ok(search.text.length <= EXPLANATION_MAX_LENGTH);
});

t.test('any reasons give a short sentence citing only their evidence (property)', async () => {
  const ids = ['martian', 'alien', 'interstellar', 'bake-off', 'missing'];
  const reasonArbitrary = fc.record(
    {
      source: fc.constantFrom(...REASON_SOURCES, ...CANDIDATE_SOURCES),
      detail: fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.constantFrom('Trending this week: 5 viewers', 'Popular: 1 viewer', 'Close in meaning to "x"'),
      ),
      evidenceItemIds: fc.array(fc.constantFrom(...ids), { maxLength: 4 }),
      viewers: fc.nat(),
      window: fc.constantFrom('week' as const, 'all-time' as const),
      coViewed: fc.boolean(),
      query: fc.string({ maxLength: 300 }),
      match: fc.constantFrom(...SEARCH_MATCHES),
    },
    { requiredKeys: ['source', 'detail', 'evidenceItemIds'] },
  );
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 40 }),
      fc.array(reasonArbitrary, { maxLength: 4 }),
      fc.array(fc.string({ maxLength: 80 }), { maxLength: 3 }),
      fc.constantFrom('en', 'fr', 'de', undefined),
      fc.constantFrom('personal' as const, 'similar' as const),
      fc.string({ maxLength: 300 }),
      (itemId, reasons, genres, locale, context, title) => {
        const pool: EvidenceItems = new Map(
          ids.filter((id) => id !== 'missing').map((id) => [id, { title: `${title} ${id}`, genres }]),
        );
        const explanation = explainWithTemplate(
          { itemId, item: { title, genres, releaseDate: '2025' }, reasons },
          pool,
          { locale, context },
        );
        const allowed = new Set(reasons.flatMap((r) => r.evidenceItemIds));
        return (
          explanation.text.length > 0 &&
          explanation.text.length <= EXPLANATION_MAX_LENGTH &&
          !/recommended for you/i.test(explanation.text) &&
          explanation.evidenceItemIds.every((id) => allowed.has(id) && pool.has(id)) &&
          new Set(explanation.evidenceItemIds).size === explanation.evidenceItemIds.length
        );
      },
    ),
    { numRuns: 500 },
  );
});

t.test('the locale: the parameter, else Accept-Language, else English', async (t) => {
  t.equal(resolveLocale('fr', undefined), 'fr');
  t.equal(resolveLocale('fr-FR', 'en'), 'fr');
  t.equal(resolveLocale('FR_ca', undefined), 'fr');
  t.equal(resolveLocale('de', 'fr'), 'en', 'an explicit language we do not write gets English');
  t.equal(resolveLocale(undefined, 'fr-FR,fr;q=0.9,en;q=0.8'), 'fr');
  t.equal(resolveLocale(undefined, 'de-DE, fr;q=0.5, en;q=0.4'), 'fr', 'the best language we write');
  t.equal(resolveLocale(undefined, 'en;q=0.2, fr;q=0.8'), 'fr', 'by weight, not order');
  t.equal(resolveLocale(undefined, 'fr;q=0, en'), 'en', 'q=0 means not this one');
  t.equal(resolveLocale(undefined, '*'), 'en');
  t.equal(resolveLocale(undefined, 'de'), 'en');
  t.equal(resolveLocale(undefined, undefined), 'en');
  t.equal(resolveLocale('', 'fr'), 'fr', 'an empty parameter is no parameter');
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (header) => {
      const locale = fromAcceptLanguage(header);
      return locale === undefined || locale === 'en' || locale === 'fr';
    }),
  );
});
