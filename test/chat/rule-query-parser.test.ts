import fc from 'fast-check';
import t from 'tap';
import { type ChatQuery, chatQuerySchema, EMPTY_CHAT_QUERY } from '../../src/chat/chat-query.ts';
import { AUDIENCE_WORDS, GENRE_WORDS, MOOD_WORDS, TYPE_WORDS } from '../../src/chat/chat-vocabulary.ts';
import { parseChatMessage, RECENT_YEARS, SHORT_MAX_MINUTES } from '../../src/chat/rule-query-parser.ts';

const now = new Date('2026-06-01T12:00:00Z');
const parse = (message: string, history: { message: string; query: ChatQuery }[] = []) =>
  parseChatMessage(message, history, { now });
const query = (fields: Partial<ChatQuery>): ChatQuery => ({ ...EMPTY_CHAT_QUERY, ...fields });

t.test('the acceptance request: a reference title, a type and a negated genre', async (t) => {
  t.same(
    parse('something like Stranger Things but a movie, and not horror'),
    query({ referenceTitles: ['Stranger Things'], types: ['movie'], excludeGenres: ['horror'] }),
  );
});

t.test('example requests', async (t) => {
  const cases: [string, Partial<ChatQuery>][] = [
    [
      "I'd like a funny sci-fi movie from the 90s under 2 hours",
      {
        types: ['movie'],
        genres: ['sci-fi'],
        mood: 'funny',
        yearFrom: 1990,
        yearTo: 1999,
        maxDurationMinutes: 120,
      },
    ],
    [
      'a romantic comedy for the family, nothing scary',
      { genres: ['romance', 'comedy'], excludeGenres: ['horror'], maxMaturityRating: 'PG' },
    ],
    [
      'Korean thriller series after 2015',
      { types: ['series'], genres: ['thriller'], languages: ['ko'], yearFrom: 2016 },
    ],
    ['films before 2000', { types: ['movie'], yearTo: 1999 }],
    ['TV shows since 2018', { types: ['series'], yearFrom: 2018 }],
    ['a podcast about space', { types: ['podcast'], semanticText: 'space' }],
    ['something recent', { yearFrom: 2026 - RECENT_YEARS }],
    [
      'a short documentary in French about whales',
      {
        genres: ['documentary'],
        languages: ['fr'],
        maxDurationMinutes: SHORT_MAX_MINUTES,
        semanticText: 'whales',
      },
    ],
    ['less than 90 minutes please', { maxDurationMinutes: 90 }],
    ['at least an hour and a half', { minDurationMinutes: 90 }],
    [
      'a 2h30 epic western',
      { genres: ['western'], mood: 'epic', minDurationMinutes: 128, maxDurationMinutes: 173 },
    ],
    [
      'similar to "The Office" without romance or drama',
      { referenceTitles: ['The Office'], excludeGenres: ['romance', 'drama'] },
    ],
    [
      'movies like Mr. Robot or Black Mirror from 2019',
      {
        types: ['movie'],
        referenceTitles: ['Mr. Robot', 'Black Mirror'],
        yearFrom: 2019,
        yearTo: 2019,
      },
    ],
    ['no romance, without gore', { excludeGenres: ['romance', 'horror'] }],
    ['not horror and funny', { excludeGenres: ['horror'], mood: 'funny' }],
    ['something feel-good for kids', { mood: 'feel-good', maxMaturityRating: 'TV-Y7' }],
    ['recent anime not for kids', { genres: ['anime'], excludeGenres: ['kids'], yearFrom: 2024 }],
    ['like the movie Alien, but not R-rated', { referenceTitles: ['Alien'], maxMaturityRating: 'PG-13' }],
    ['between 2000 and 2010, PG-13', { yearFrom: 2000, yearTo: 2010, maxMaturityRating: 'PG-13' }],
    ['the late 80s', { yearFrom: 1986, yearTo: 1989 }],
    ['show me a heist movie with Tom Hanks', { types: ['movie'], semanticText: 'heist tom hanks' }],
    ['I love horror movies', { types: ['movie'], genres: ['horror'] }],
    ['I liked Dark, something in German', { referenceTitles: ['Dark'], languages: ['de'] }],
    ['I have 45 minutes', { maxDurationMinutes: 45 }],
    [
      'non-horror sci fi from the last 5 years',
      { genres: ['sci-fi'], excludeGenres: ['horror'], yearFrom: 2021 },
    ],
  ];
  for (const [message, expected] of cases) t.same(parse(message), query(expected), message);
});

t.test('decades, however written, are year ranges; a mood beside them stays a mood', async (t) => {
  const cases: [string, number, number][] = [
    ['80s', 1980, 1989],
    ["'80s", 1980, 1989],
    ["80's", 1980, 1989],
    ['the 1980s', 1980, 1989],
    ['eighties', 1980, 1989],
    ['from the 90s', 1990, 1999],
    ['the nineties', 1990, 1999],
    ['the 2000s', 2000, 2009],
    ['2010s', 2010, 2019],
    ['mid-90s', 1993, 1996],
    ['early 2000s', 2000, 2003],
  ];
  for (const [message, yearFrom, yearTo] of cases)
    t.same(parse(message), query({ yearFrom, yearTo }), message);
  t.same(
    parse('a scary movie from the 80s'),
    query({ types: ['movie'], mood: 'scary', yearFrom: 1980, yearTo: 1989 }),
  );
  t.same(parse('funny sci-fi'), query({ genres: ['sci-fi'], mood: 'funny' }));
  t.same(
    parse('mind-bending thriller like Inception'),
    query({ referenceTitles: ['Inception'], genres: ['thriller'], mood: 'mind-bending' }),
  );
});

t.test('"like" as a verb, or followed by genre words only, names no title', async (t) => {
  t.same(parse("I'd like a comedy").referenceTitles, []);
  t.same(parse('would like something funny').referenceTitles, []);
  t.same(parse('something like a scary movie'), query({ types: ['movie'], mood: 'scary' }));
  t.same(parse('like this').referenceTitles, []);
  t.same(parse('like The Crown or something').referenceTitles, ['The Crown']);
});

t.test('a follow-up refines the previous turn', async (t) => {
  const first = parse('a funny movie like Paddington from the 2010s');
  t.same(
    first,
    query({ referenceTitles: ['Paddington'], types: ['movie'], mood: 'funny', yearFrom: 2010, yearTo: 2019 }),
  );
  const history = [{ message: 'a funny movie like Paddington from the 2010s', query: first }];
  t.same(parse('make it shorter', history), { ...first, maxDurationMinutes: SHORT_MAX_MINUTES });
  const shorter = { ...first, maxDurationMinutes: 100 };
  t.equal(
    parse('even shorter', [{ message: '', query: shorter }]).maxDurationMinutes,
    75,
    'shorter than the previous limit',
  );
  t.same(parse('only series', history), { ...first, types: ['series'] });
  t.same(parse('what about horror?', history), { ...first, genres: ['horror'] });
  t.same(parse('no comedy', history), { ...first, excludeGenres: ['comedy'] });
  t.same(parse('something newer', history), { ...first, yearFrom: 2015 });
  t.same(parse('more', history), first, 'asking again is the same query');
  t.same(parse('in French', history), { ...first, languages: ['fr'] });
  t.same(
    parse('a heist movie', history),
    query({ types: ['movie'], semanticText: 'heist' }),
    'a message with a subject of its own starts again',
  );
  t.same(
    parse('something like Alien', history),
    query({ referenceTitles: ['Alien'] }),
    'a new title starts again',
  );
  t.same(
    parse('but like Alien instead', history),
    { ...first, referenceTitles: ['Alien'] },
    'unless it says but',
  );
  const excluded = parse('no horror', history);
  t.same(parse('actually, horror is fine', [{ message: 'no horror', query: excluded }]).excludeGenres, []);
});

t.test('the vocabulary itself parses into what it says', async (t) => {
  for (const [phrase, type] of Object.entries(TYPE_WORDS))
    t.ok(parse(`a ${phrase}`).types.includes(type), phrase);
  for (const [phrase, genres] of Object.entries(GENRE_WORDS))
    t.ok(
      genres.every((genre) => parse(`some ${phrase}`).genres.includes(genre)),
      phrase,
    );
  for (const [phrase, mood] of Object.entries(MOOD_WORDS))
    t.equal(parse(`something ${phrase}`).mood, mood, phrase);
  for (const [phrase, rating] of Object.entries(AUDIENCE_WORDS))
    t.equal(parse(`for ${phrase}`).maxMaturityRating, rating, phrase);
});

// Text that looks like requests: the parser's own words mixed with arbitrary ones and punctuation.
const vocabulary = [
  ...Object.keys(TYPE_WORDS),
  ...Object.keys(GENRE_WORDS),
  ...Object.keys(MOOD_WORDS),
  ...Object.keys(AUDIENCE_WORDS),
  'like',
  'similar to',
  'not',
  'no',
  'without',
  'nothing',
  'but',
  'and',
  'or',
  'from the',
  '90s',
  'after',
  'before',
  '2015',
  'under',
  '2 hours',
  '90 minutes',
  'in french',
  'rated r',
  'pg-13',
  'make it',
  'shorter',
  'newer',
  '"',
  ',',
  '.',
  '-',
  "'",
];
const requestLike = fc
  .array(fc.oneof(fc.constantFrom(...vocabulary), fc.string({ maxLength: 12 }), fc.integer().map(String)), {
    maxLength: 40,
  })
  .map((words) => words.join(' '));
const anyMessage = fc.oneof(
  requestLike,
  fc.string({ maxLength: 2_500 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
);

t.test('never throws, always a query that fits the schema, however strange the text', async (t) => {
  fc.assert(
    fc.property(anyMessage, fc.array(anyMessage, { maxLength: 3 }), (message, earlier) => {
      const history = earlier.map((text) => ({ message: text, query: parse(text) }));
      const parsed = parse(message, history);
      const checked = chatQuerySchema.safeParse(parsed);
      if (!checked.success) throw new Error(`${JSON.stringify(message)}: ${checked.error.message}`);
      if (parsed.minDurationMinutes !== null && parsed.maxDurationMinutes !== null)
        if (parsed.minDurationMinutes > parsed.maxDurationMinutes) throw new Error('min above max');
      if (parsed.genres.some((genre) => parsed.excludeGenres.includes(genre)))
        throw new Error('a genre both wanted and excluded');
    }),
    { numRuns: 2_000 },
  );
  t.pass('2,000 messages');
});

t.test('parses a long message quickly (no pathological backtracking)', async (t) => {
  const long = `${'something like the '.repeat(100)}${'not horror or '.repeat(50)}${'a'.repeat(500)}`;
  const started = performance.now();
  parse(long);
  parse('x'.repeat(2_000));
  parse(`${'1'.repeat(1_000)} minutes`);
  const elapsed = performance.now() - started;
  t.ok(elapsed < 500, `${elapsed.toFixed(0)} ms`);
});
