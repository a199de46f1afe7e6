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

t.test(
  'a query every match must hold a lexeme of (driven by its rarest postings) finds and ranks what the ' +
    'union of the postings finds and ranks',
  async (t) => {
    // 600 documents over a skewed vocabulary: common, middling and rare lexemes, in every field.
    const words = ['com', 'mid', 'rar', 'oth', 'zed'];
    const fields = ['A', 'B', 'C', 'D'];
    let state = 7;
    const random = () => (state = (state * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    const corpus: Record<string, string> = {};
    for (let at = 0; at < 600; at++) {
      const held = words.filter((_, w) => random() < [0.6, 0.25, 0.03, 0.4, 0.1][w]!);
      corpus[`doc-${String(at).padStart(3, '0')}`] = held
        .map((word) => `'${word}':${1 + Math.floor(random() * 20)}${fields[Math.floor(random() * 4)]}`)
        .join(' ');
    }
    const index = indexOf(corpus);
    const pairs: [string, string][] = [
      ['com', 'rar'],
      ['com', 'mid'],
      ['mid', 'zed'],
      ['rar', 'oth'],
    ];
    for (const [a, b] of pairs) {
      const driven = index.search(parseTsquery(`'${a}' & '${b}'`)!, 1_000)!;
      const union = index.search(parseTsquery(`'${a}' | '${b}'`)!, 1_000)!;
      const both = new Set(
        Object.entries(corpus)
          .filter(([, text]) => text.includes(`'${a}'`) && text.includes(`'${b}'`))
          .map(([id]) => id),
      );
      t.ok(both.size > 0, `${a} & ${b}: some documents hold both`);
      t.same(driven.map((match) => match.itemId).sort(), [...both].sort(), `${a} & ${b}: the same items`);
      const unionRank = new Map(union.map((match) => [match.itemId, match.rank]));
      t.ok(
        driven.every((match) => match.rank === unionRank.get(match.itemId)),
        `${a} & ${b}: the same ranks as through the union`,
      );
      const top = index.search(parseTsquery(`'${a}' & '${b}'`)!, 5)!;
      t.same(top, driven.slice(0, 5), `${a} & ${b}: the best 5 are the first 5`);
    }
    const negated = index.search(parseTsquery("'mid' & !'com'")!, 1_000)!;
    t.same(
      negated.map((match) => match.itemId).sort(),
      Object.entries(corpus)
        .filter(([, text]) => text.includes("'mid'") && !text.includes("'com'"))
        .map(([id]) => id)
        .sort(),
      'a negated lexeme still excludes',
    );
    t.same(index.search(parseTsquery("'com' & 'nowhere'")!, 10), [], 'a required lexeme no one holds');
  },
);
