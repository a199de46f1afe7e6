import fc from 'fast-check';
import t from 'tap';
import { NETFLIX_GENRES as NETFLIX } from '../helpers/netflix.ts';
import { GENRE_WORDS } from '../../src/chat/chat-vocabulary.ts';
import { resolveGenre, resolveGenres, stem } from '../../src/chat/genre-resolver.ts';

t.test('viewer words to netflix labels, most used first', async (t) => {
  const cases: [string, string[]][] = [
    ['horror', ['Horror Movies', 'TV Horror']],
    ['Horror', ['Horror Movies', 'TV Horror']],
    ['sci-fi', ['Sci-Fi & Fantasy', 'TV Sci-Fi & Fantasy']],
    ['science fiction', ['Sci-Fi & Fantasy', 'TV Sci-Fi & Fantasy']],
    ['comedy', ['Comedies', 'TV Comedies', 'Stand-Up Comedy', 'Stand-Up Comedy & Talk Shows']],
    ['comedies', ['Comedies', 'TV Comedies', 'Stand-Up Comedy', 'Stand-Up Comedy & Talk Shows']],
    ['romance', ['Romantic Movies', 'Romantic TV Shows']],
    ['romantic', ['Romantic Movies', 'Romantic TV Shows']],
    ['documentary', ['Documentaries', 'Docuseries']],
    ['thriller', ['Thrillers', 'TV Thrillers']],
    ['drama', ['Dramas', 'TV Dramas']],
    ['anime', ['Anime Series', 'Anime Features']],
    ['kids', ['Children & Family Movies', "Kids' TV"]],
    ['children', ['Children & Family Movies', "Kids' TV"]],
    ['mystery', ['TV Mysteries']],
    ['stand-up', ['Stand-Up Comedy', 'Stand-Up Comedy & Talk Shows']],
    ['musical', ['Music & Musicals']],
    ['action', ['Action & Adventure', 'TV Action & Adventure']],
    ['crime', ['Crime TV Shows']],
    ['fantasy', ['Sci-Fi & Fantasy', 'TV Sci-Fi & Fantasy']],
    ['indie', ['Independent Movies']],
    ['movies', []],
    ['tv', []],
    ['superhero', []],
    ['', []],
  ];
  for (const [word, labels] of cases) t.same(resolveGenre(word, NETFLIX), labels, word);
});

t.test('labels of another catalog, spelled its own way', async (t) => {
  const labels = ['horror', 'space opera', 'Animated Movies', 'Science Fiction', 'Romance'].map((label) => ({
    label,
    count: 1,
  }));
  t.same(resolveGenre('horror', labels), ['horror']);
  t.same(resolveGenre('space opera', labels), ['space opera']);
  t.same(resolveGenre('animation', labels), ['Animated Movies']);
  t.same(resolveGenre('sci-fi', labels), ['Science Fiction']);
  t.same(resolveGenre('romantic', labels), ['Romance']);
  t.same(resolveGenre('opera', labels), ['space opera']);
  t.same(resolveGenres(['horror', 'western', 'romance'], labels), {
    labels: ['horror', 'Romance'],
    unresolved: ['western'],
  });
});

t.test('every genre word of the parser that netflix has a label for finds it', async (t) => {
  const expected = new Set(Object.values(GENRE_WORDS).flat());
  const unresolved = [...expected].filter((genre) => resolveGenre(genre, NETFLIX).length === 0).sort();
  t.same(
    unresolved,
    ['animation', 'biography', 'cooking', 'history', 'martial arts', 'superhero', 'war', 'western'],
    'only those netflix has no label for (they are searched as words)',
  );
});

t.test('the stemmer', async (t) => {
  t.same(['comedies', 'comedy', 'movies', 'movie', 'thrillers', 'series', 'romance', 'kids'].map(stem), [
    'comedi',
    'comedi',
    'movi',
    'movi',
    'thriller',
    'seri',
    'romanc',
    'kid',
  ]);
});

t.test('any word against any labels: never throws, only labels it was given', async (t) => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 64 }),
      fc.array(fc.record({ label: fc.string({ maxLength: 64 }), count: fc.nat() }), { maxLength: 30 }),
      (word, labels) => {
        const given = new Set(labels.map((entry) => entry.label));
        return resolveGenre(word, labels).every((label) => given.has(label));
      },
    ),
    { numRuns: 1_000 },
  );
  t.pass();
});

t.test("the names of Object.prototype's members are words like any other", async (t) => {
  // A model may write any genre ("constructor"); the synonym table is read by own keys only.
  for (const word of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'])
    t.same(resolveGenre(word, NETFLIX), [], word);
  t.same(resolveGenre('constructor', [{ label: 'Constructor Movies', count: 1 }]), ['Constructor Movies']);
  t.same(resolveGenres(['toString', 'horror'], NETFLIX), {
    labels: ['Horror Movies', 'TV Horror'],
    unresolved: ['toString'],
  });
});
