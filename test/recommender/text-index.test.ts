import t from 'tap';
import { parseTsquery, parseTsvector, TextIndex } from '../../src/recommender/text-index.ts';

t.test('tsvector text: lexemes, weighted frequencies and fields; quotes and bare lexemes', async (t) => {
  t.same(parseTsvector("'hospit':2A,50 'pirat':7A 'o''brien':3C 'x'"), [
    { lexeme: 'hospit', weightedFrequency: 1.1, fields: 1 | 8 },
    { lexeme: 'pirat', weightedFrequency: 1, fields: 1 },
    { lexeme: "o'brien", weightedFrequency: 0.2, fields: 4 },
    { lexeme: 'x', weightedFrequency: 0.1, fields: 8 },
  ]);
  t.same(parseTsvector(''), []);
  t.throws(() => parseTsvector("'unterminated"));
});

t.test(
  'tsquery text: and, or, not and parentheses; phrases, prefixes and empty queries are left to SQL',
  async (t) => {
    t.same(parseTsquery("'pirat' & 'hospit'"), {
      kind: 'and',
      left: { kind: 'lexeme', lexeme: 'pirat' },
      right: { kind: 'lexeme', lexeme: 'hospit' },
    });
    t.same(parseTsquery("'a' | 'b' & !'c'"), {
      kind: 'or',
      left: { kind: 'lexeme', lexeme: 'a' },
      right: {
        kind: 'and',
        left: { kind: 'lexeme', lexeme: 'b' },
        right: { kind: 'not', operand: { kind: 'lexeme', lexeme: 'c' } },
      },
    });
    t.same(parseTsquery("( 'a' | 'b' ) & 'c'"), {
      kind: 'and',
      left: { kind: 'or', left: { kind: 'lexeme', lexeme: 'a' }, right: { kind: 'lexeme', lexeme: 'b' } },
      right: { kind: 'lexeme', lexeme: 'c' },
    });
    t.equal(parseTsquery("'stranger' <-> 'thing'"), undefined);
    t.equal(parseTsquery("'star':*"), undefined);
    t.equal(parseTsquery(''), undefined);
    t.equal(parseTsquery("'a' &"), undefined);
    t.equal(parseTsquery("( 'a'"), undefined);
    t.same(parseTsquery("'__proto__'"), { kind: 'lexeme', lexeme: '__proto__' });
  },
);

function indexOf(documents: Record<string, string>): TextIndex {
  const builder = TextIndex.builder();
  for (const [itemId, document] of Object.entries(documents).sort(([a], [b]) => (a < b ? -1 : 1)))
    builder.add(itemId, document);
  return builder.finish();
}

const documents = {
  // A title match, a description match, a credits match, and both words only across two fields.
  title: "'pirat':1A 'island':2A 'sea':5D",
  description: "'pirat':3D 'island':9D 'ship':4D 'sea':6D,8D",
  credits: "'pirat':2C 'island':3C",
  split: "'pirat':1A 'island':4D",
  other: "'dragon':1A 'sea':2D",
  ['__proto__']: "'pirat':1D",
};

t.test('search: Boolean matching as Postgres, BM25F ranking with the title first, field flags', async (t) => {
  const index = indexOf(documents);
  t.equal(index.size, 6);
  const both = index.search(parseTsquery("'pirat' & 'island'")!, 10)!;
  t.equal(both.length, 4, 'every item holding both words');
  t.equal(both[0]?.itemId, 'title', 'the title match first');
  t.equal(both[3]?.itemId, 'description', 'the description-only match last');
  t.match(both[0], { inTitle: true, inDescription: false, inCredits: false, inLabels: false });
  t.match(
    both.find((match) => match.itemId === 'split'),
    {
      inTitle: false,
      inDescription: false,
    },
  );
  t.match(
    both.find((match) => match.itemId === 'credits'),
    { inCredits: true, inTitle: false },
  );
  t.ok(both.every((match, at) => at === 0 || match.rank <= both[at - 1]!.rank));

  t.same(
    index.search(parseTsquery("'sea' & !'pirat'")!, 10)!.map((match) => match.itemId),
    ['other'],
  );
  t.same(
    index
      .search(parseTsquery("'dragon' | 'ship'")!, 10)!
      .map((match) => match.itemId)
      .sort(),
    ['description', 'other'],
  );
  t.same(
    index
      .search(parseTsquery("'pirat'")!, 10)!
      .map((match) => match.itemId)
      .sort(),
    ['__proto__', 'credits', 'description', 'split', 'title'],
    'an item id __proto__ is an item like any other',
  );
  t.same(index.search(parseTsquery("'unknown'")!, 10), []);
  t.same(index.search(parseTsquery("'pirat'")!, 2)!.length, 2, 'at most the limit');
  t.equal(index.search(parseTsquery("!'pirat'")!, 10), undefined, 'a query no match must hold: SQL');
});

t.test('documents written after the build: changed, added and removed ones answer at once', async (t) => {
  const index = indexOf(documents);
  index.apply('other', "'pirat':1A 'island':2A");
  index.apply('new', "'pirat':1A 'island':2A 'cove':3A");
  index.apply('title', null);
  t.equal(index.size, 6);
  t.equal(index.changedCount, 2);
  const both = index.search(parseTsquery("'pirat' & 'island'")!, 10)!.map((match) => match.itemId);
  t.notOk(both.includes('title'), 'a removed document no longer matches');
  t.ok(both.includes('other') && both.includes('new'), 'changed and added documents match');
  t.same(index.search(parseTsquery("'dragon'")!, 10), [], 'the old text of a changed document is gone');
  t.match(index.search(parseTsquery("'cove'")!, 10), [{ itemId: 'new', inTitle: true }]);
  index.apply('new', "'cove':1D");
  t.match(index.search(parseTsquery("'cove'")!, 10), [
    { itemId: 'new', inTitle: false, inDescription: true },
  ]);
  t.equal(index.changedCount, 2, 'a document changed twice is held once');
});
