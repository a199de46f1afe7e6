import fc from 'fast-check';
import t from 'tap';
import { type ChatQuery, EMPTY_CHAT_QUERY } from '../../src/chat/chat-query.ts';
import { templateReplyWriter } from '../../src/chat/chat-strategies.ts';
import { type TemplateReplyInput, writeTemplateReply } from '../../src/chat/template-reply.ts';
import type { RecommendedItem } from '../../src/schemas/recommendations.schema.ts';

const itemTitled = (title: string, n: number): RecommendedItem => ({
  itemId: `item-${n}`,
  score: 1 / (n + 1),
  item: {
    id: `item-${n}`,
    type: 'movie',
    title,
    genres: [],
    tags: [],
    credits: [],
    regions: [],
    attributes: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  },
  reasons: [],
});
const input = (query: Partial<ChatQuery>, titles: string[], extra: Partial<TemplateReplyInput> = {}) => ({
  query: { ...EMPTY_CHAT_QUERY, ...query },
  items: titles.map(itemTitled),
  references: [],
  unresolvedReferences: [],
  limit: 10,
  requestFilters: {},
  locale: 'en' as const,
  ...extra,
});
const reply = (...args: Parameters<typeof input>) => writeTemplateReply(input(...args)).join(' ');
const ten = ['Super 8', 'E.T.', 'The Goonies', 'Looper', 'Midnight Special', 'A', 'B', 'C', 'D', 'E'];

t.test('names what was understood and the first three items', async (t) => {
  t.equal(
    reply({ referenceTitles: ['Stranger Things'], types: ['movie'], excludeGenres: ['horror'] }, ten, {
      references: [{ itemId: 'st', title: 'Stranger Things' }],
    }),
    'Here are 10 movies like Stranger Things, without horror: "Super 8", "E.T." and "The Goonies" lead the list.',
  );
  t.equal(
    reply(
      {
        mood: 'funny',
        genres: ['sci-fi'],
        types: ['movie'],
        yearFrom: 1990,
        yearTo: 1999,
        maxDurationMinutes: 120,
      },
      ten,
    ),
    'Here are 10 funny sci-fi movies, from the 1990s, under 2 hours: "Super 8", "E.T." and "The Goonies" lead the list.',
  );
  t.equal(
    reply({ languages: ['ko'], maxMaturityRating: 'TV-Y7', yearFrom: 2016, maxDurationMinutes: 90 }, [
      'One',
      'Two',
    ]),
    'I found only 2 titles in Korean, from 2016 on, under 1 h 30, for kids: "One" and "Two".',
  );
  t.equal(
    reply({ semanticText: 'heist' }, ['Only']),
    'I found only one title matching \u201cheist\u201d: "Only".',
  );
  t.equal(reply({}, ['Only'], { limit: 1 }), 'Here is one title: "Only".');
});

t.test('nothing matched: says so and suggests what to loosen', async (t) => {
  t.equal(
    reply({ types: ['movie'], maxDurationMinutes: 30, yearTo: 1950 }, []),
    'I found no movies, up to 1950, under 30 minutes. Try dropping the running time or widening the years.',
  );
  t.equal(
    reply({ excludeGenres: ['horror', 'comedy'] }, []),
    'I found no titles, without horror or comedy. Try allowing horror or comedy.',
  );
  t.equal(reply({}, []), 'I found no titles. Try other words, or a title you like.');
  t.equal(
    reply({}, [], { requestFilters: { region: 'FR' } }),
    "I found no titles. Try loosening this page's filters.",
  );
});

t.test('titles the catalog does not have are said unquoted', async (t) => {
  t.equal(
    reply({ referenceTitles: ['Nowhere Film'] }, ['X', 'Y', 'Z'], { unresolvedReferences: ['Nowhere Film'] }),
    'I could not find Nowhere Film in the catalog, so these follow the rest of your request. ' +
      'I found only 3 titles: "X", "Y" and "Z" lead the list.',
  );
});

t.test('French', async (t) => {
  t.equal(
    reply({ types: ['movie'], excludeGenres: ['horror'] }, ten, {
      locale: 'fr',
      references: [{ itemId: 'st', title: 'Stranger Things' }],
    }),
    'Voici 10 films dans l\u2019esprit de Stranger Things, sans horror\u00a0: \u00ab\u00a0Super 8\u00a0\u00bb, ' +
      '\u00ab\u00a0E.T.\u00a0\u00bb et \u00ab\u00a0The Goonies\u00a0\u00bb ouvrent la liste.',
  );
  t.match(
    reply({ maxDurationMinutes: 30 }, [], { locale: 'fr' }),
    /^Je n’ai trouvé aucun résultat .* Essayez de retirer la limite de durée\.$/,
  );
});

t.test('the writer streams the sentences, which join into the reply', async (t) => {
  const context = {
    ...input({}, ['X'], { unresolvedReferences: ['Nope'] }),
    message: 'like Nope',
    history: [],
  };
  const pieces: string[] = [];
  for await (const piece of templateReplyWriter.write(context, {})) pieces.push(piece);
  t.equal(pieces.length, 2);
  t.equal(pieces.join(''), writeTemplateReply(context).join(' '));
});

t.test('quotes only the titles of the items, whatever the query says', async (t) => {
  const text = fc.string({ maxLength: 40 }).filter((value) => !value.includes('"'));
  fc.assert(
    fc.property(
      fc.array(
        text.filter((title) => title.trim() !== ''),
        { maxLength: 12 },
      ),
      fc.record({
        semanticText: text,
        genres: fc.array(text, { maxLength: 3 }),
        excludeGenres: fc.array(text, { maxLength: 3 }),
        mood: fc.option(text, { nil: null }),
      }),
      fc.array(text, { maxLength: 2 }),
      fc.constantFrom('en' as const, 'fr' as const),
      (titles, query, unresolved, locale) => {
        const written = reply(query, titles, { unresolvedReferences: unresolved, locale });
        const quoted = [...written.matchAll(/"([^"]*)"|\u00ab\u00a0(.*?)\u00a0\u00bb/g)].map(
          (m) => m[1] ?? m[2],
        );
        const clean = titles.map((title) => title.replace(/\s+/g, ' ').trim());
        return quoted.every((title) =>
          clean.some((candidate) => candidate.startsWith(title!.replace(/…$/, ''))),
        );
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

t.test(
  'repeats nothing that is not plain text: query words a model wrote, titles that hide text',
  async (t) => {
    const hostile: Partial<ChatQuery> = {
      mood: '<script>x</script>',
      genres: ['<img src=x onerror=alert(1)>', 'sci-fi'],
      excludeGenres: ['javascript:alert(1)', 'horror'],
      semanticText: 'call 0800 555 0199',
      languages: ['"><b>'],
      maxMaturityRating: '<i>',
      types: ['__proto__'],
    };
    const unresolved = ['<img src=x onerror=alert(1)>', 'Nowhere Film'];
    const titles = ['Evil\u202eTwin', '<b>Bold</b>', 'Fine Title', 'Zero\u200bWidth', 'Second Fine'];
    const bad = /[<>\u202e\u200b]|script|onerror|javascript|0199|proto|Evil|Bold|Zero/;
    for (const locale of ['en', 'fr'] as const) {
      const found = reply(hostile, titles, { unresolvedReferences: unresolved, locale });
      t.notMatch(found, bad, found);
      t.match(found, /Nowhere Film/, 'the plain title the viewer named is still said');
      t.match(found, /Fine Title.*Second Fine/, 'the plain catalog titles are still quoted');
      t.match(found, /sci-fi/, 'and the plain genre');
      t.match(found, /horror/);
      const none = reply(hostile, [], { unresolvedReferences: unresolved, locale });
      t.notMatch(none, bad, none);
    }
    t.equal(
      reply({}, ['<b>Bold</b>', 'Evil\u202eTwin']),
      'I found only 2 titles.',
      'no title to quote: the count alone',
    );
    t.equal(reply({}, ['<b>Bold</b>'], { locale: 'fr' }), 'Un seul résultat.');

    const hidden = ['<', '>', '\u0007', '\u202e', '\u2066', '\u200b', '\ufeff', '\u00ad'];
    const joined = (pieces: fc.Arbitrary<string>) =>
      fc.array(pieces, { maxLength: 6 }).map((found) => found.join(''));
    const text = joined(
      fc.oneof(fc.constantFrom(...hidden, 'javascript:', ' www.x.com '), fc.string({ maxLength: 6 })),
    );
    // Catalog titles are the operator's: only markup and hidden characters keep one from being quoted.
    const title = joined(fc.oneof(fc.constantFrom(...hidden), fc.string({ maxLength: 6 })));
    fc.assert(
      fc.property(
        fc.array(title, { maxLength: 5 }),
        fc.record({
          semanticText: text,
          genres: fc.array(text, { maxLength: 3 }),
          excludeGenres: fc.array(text, { maxLength: 3 }),
          mood: fc.option(text, { nil: null }),
          languages: fc.array(text, { maxLength: 2 }),
        }),
        fc.array(text, { maxLength: 2 }),
        fc.constantFrom('en' as const, 'fr' as const),
        (titles, query, unresolved, locale) => {
          const written = reply(query, titles, { unresolvedReferences: unresolved, locale });
          return !/\p{Cc}|[<>\u202e\u2066\u200b\ufeff\u00ad]|javascript:|www\./u.test(written);
        },
      ),
      { numRuns: 500 },
    );
  },
);
