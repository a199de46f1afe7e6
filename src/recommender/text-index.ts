import { TopK } from './top-k.ts';

// The catalog's stored search documents (item_search_documents, Postgres tsvectors) held in memory as an
// inverted index, so that a search ranks the best matches without scoring every matching row in SQL: a
// two-word query matching 12,000 of 100,000 items cost 60 ms of Postgres time; here it is about a millisecond.
// Lexemes and field weights come from Postgres (the document's own text form, the query's websearch_to_tsquery),
// so matching is Postgres's: same stemming, same stop words. Ranking is BM25F over the fields the weights mark.

/** Field of a document position, by tsvector weight: A title, B genres and tags, C credits, D description. */
const FIELD_BITS = { A: 1, B: 2, C: 4, D: 8 } as const;
export type TextField = keyof typeof FIELD_BITS;
/** Weight of one occurrence in each field (ts_rank's defaults: a title word counts ten description words). */
const FIELD_WEIGHTS = { A: 1, B: 0.4, C: 0.2, D: 0.1 } as const;
/** BM25's term-frequency saturation and length normalisation. */
const K1 = 1.2;
const B = 0.75;
/** Query lexemes one search evaluates (bits of a 32-bit mask); a longer query is left to SQL. */
const MAX_QUERY_LEXEMES = 31;

/** One lexeme of a document: how much it weighs there, and the fields it is in. */
export interface DocumentTerm {
  lexeme: string;
  weightedFrequency: number;
  fields: number;
}

/**
 * The terms of a tsvector in Postgres's text form: `'hospit':2A,50 'pirat':7A`. A lexeme without positions
 * counts once, in the description's weight (D, as Postgres ranks it).
 */
export function parseTsvector(text: string): DocumentTerm[] {
  const terms: DocumentTerm[] = [];
  let at = 0;
  const length = text.length;
  while (at < length) {
    while (at < length && text[at] === ' ') at++;
    if (at >= length) break;
    if (text[at] !== "'") throw new Error(`not a tsvector at ${at}`);
    const quoted = readQuoted(text, at);
    if (!quoted) throw new Error('unterminated lexeme in tsvector');
    const { lexeme } = quoted;
    at = quoted.end;
    let weightedFrequency = 0;
    let fields = 0;
    if (text[at] === ':') {
      at++;
      for (;;) {
        while (at < length && text.charCodeAt(at) >= 48 && text.charCodeAt(at) <= 57) at++;
        const letter = text[at];
        let field: TextField = 'D';
        if (letter === 'A' || letter === 'B' || letter === 'C' || letter === 'D') {
          field = letter;
          at++;
        }
        weightedFrequency += FIELD_WEIGHTS[field];
        fields |= FIELD_BITS[field];
        if (text[at] !== ',') break;
        at++;
      }
    } else {
      weightedFrequency = FIELD_WEIGHTS.D;
      fields = FIELD_BITS.D;
    }
    terms.push({ lexeme, weightedFrequency, fields });
  }
  return terms;
}

/**
 * The lexeme quoted at `start` (a `'`) in a tsvector's or tsquery's text form, `''` and backslash escapes
 * undone, and where the text goes on after it; undefined when the quote is not closed.
 */
function readQuoted(text: string, start: number): { lexeme: string; end: number } | undefined {
  let lexeme = '';
  let at = start + 1;
  while (at < text.length) {
    const char = text[at]!;
    if (char === "'" && text[at + 1] === "'") {
      lexeme += "'";
      at += 2;
    } else if (char === "'") return { lexeme, end: at + 1 };
    else if (char === '\\' && at + 1 < text.length) {
      lexeme += text[at + 1];
      at += 2;
    } else {
      lexeme += char;
      at++;
    }
  }
  return undefined;
}

/** A tsquery as a tree: what the index can evaluate (lexemes with and, or, not; no phrases or prefixes). */
export type TextQuery =
  | { kind: 'lexeme'; lexeme: string }
  | { kind: 'and' | 'or'; left: TextQuery; right: TextQuery }
  | { kind: 'not'; operand: TextQuery };

/**
 * A tsquery in Postgres's text form (`'pirat' & 'hospit'`, `'a' | !'b'`), as a tree; undefined when it holds
 * what the index does not evaluate (phrases `<->`, prefixes `:*`, weight restrictions) or nothing at all (a
 * query of stop words): the caller asks Postgres then.
 */
export function parseTsquery(text: string): TextQuery | undefined {
  const tokens: string[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at]!;
    if (char === ' ') at++;
    else if ('&|!()'.includes(char)) {
      tokens.push(char);
      at++;
    } else if (char === "'") {
      const quoted = readQuoted(text, at);
      if (!quoted) return undefined;
      const { lexeme } = quoted;
      at = quoted.end;
      // `:*` (prefix) or `:AB` (weights) follow a lexeme: not evaluated here.
      if (text[at] === ':') return undefined;
      tokens.push(`'${lexeme}`);
    } else return undefined; // `<->`, `<2>` and anything else
  }
  if (tokens.length === 0) return undefined;
  let position = 0;
  // Precedence as Postgres: ! binds tightest, then &, then |.
  const parseOr = (): TextQuery | undefined => {
    let left = parseAnd();
    while (left && tokens[position] === '|') {
      position++;
      const right = parseAnd();
      if (!right) return undefined;
      left = { kind: 'or', left, right };
    }
    return left;
  };
  const parseAnd = (): TextQuery | undefined => {
    let left = parseNot();
    while (left && tokens[position] === '&') {
      position++;
      const right = parseNot();
      if (!right) return undefined;
      left = { kind: 'and', left, right };
    }
    return left;
  };
  const parseNot = (): TextQuery | undefined => {
    const token = tokens[position];
    if (token === '!') {
      position++;
      const operand = parseNot();
      return operand && { kind: 'not', operand };
    }
    if (token === '(') {
      position++;
      const inner = parseOr();
      if (tokens[position] !== ')') return undefined;
      position++;
      return inner;
    }
    if (token?.startsWith("'")) {
      position++;
      return { kind: 'lexeme', lexeme: token.slice(1) };
    }
    return undefined;
  };
  const tree = parseOr();
  return tree && position === tokens.length ? tree : undefined;
}

export interface TextIndexMatch {
  itemId: string;
  /** BM25F score: higher is better. */
  rank: number;
  /** Which fields match the query on their own (the whole query evaluated on that field's words). */
  inTitle: boolean;
  inLabels: boolean;
  inCredits: boolean;
  inDescription: boolean;
}

/** A document as the index holds it when it changed since the index was built. */
interface ChangedDocument {
  terms: Map<string, { weightedFrequency: number; fields: number }>;
  length: number;
}

/** Bytes per posting (item index, weighted frequency, fields) and per item (length, id, map entry). */
const BYTES_PER_POSTING = 9;
const BYTES_PER_ITEM = 100;

/**
 * The stored search documents of a catalog as an inverted index: postings of each lexeme in typed arrays
 * (item indexes ascending), built whole, then documents that change kept beside it until the next build.
 */
export class TextIndex {
  readonly #itemIds: string[];
  readonly #itemIndex: Map<string, number>;
  readonly #lexemeIndex: Map<string, number>;
  /** Postings of lexeme l: [#starts[l], #starts[l + 1]). */
  readonly #starts: Int32Array;
  readonly #postingItems: Int32Array;
  readonly #postingFrequencies: Float32Array;
  readonly #postingFields: Uint8Array;
  readonly #lengths: Float32Array;
  /** Items of the base whose document changed or went: their postings are skipped. */
  readonly #superseded: Uint8Array;
  readonly #changed = new Map<string, ChangedDocument>();
  #totalLength: number;
  #documents: number;

  private constructor(parts: {
    itemIds: string[];
    lexemeIndex: Map<string, number>;
    starts: Int32Array;
    postingItems: Int32Array;
    postingFrequencies: Float32Array;
    postingFields: Uint8Array;
    lengths: Float32Array;
  }) {
    this.#itemIds = parts.itemIds;
    this.#itemIndex = new Map(parts.itemIds.map((itemId, index) => [itemId, index]));
    this.#lexemeIndex = parts.lexemeIndex;
    this.#starts = parts.starts;
    this.#postingItems = parts.postingItems;
    this.#postingFrequencies = parts.postingFrequencies;
    this.#postingFields = parts.postingFields;
    this.#lengths = parts.lengths;
    this.#superseded = new Uint8Array(parts.itemIds.length);
    this.#totalLength = parts.lengths.reduce((sum, length) => sum + length, 0);
    this.#documents = parts.itemIds.length;
  }

  /** Builds the index from documents added one at a time (each item once). */
  static builder(): {
    add(itemId: string, document: string): void;
    readonly postings: number;
    finish(): TextIndex;
  } {
    const itemIds: string[] = [];
    const lexemeIndex = new Map<string, number>();
    const lengths: number[] = [];
    let lexemes = new Int32Array(1 << 16);
    let frequencies = new Float32Array(1 << 16);
    let fields = new Uint8Array(1 << 16);
    let items = new Int32Array(1 << 16);
    let count = 0;
    const grow = () => {
      const size = lexemes.length * 2;
      const grown = <T extends Int32Array | Float32Array | Uint8Array>(from: T, make: (n: number) => T) => {
        const to = make(size);
        to.set(from);
        return to;
      };
      lexemes = grown(lexemes, (n) => new Int32Array(n));
      frequencies = grown(frequencies, (n) => new Float32Array(n));
      fields = grown(fields, (n) => new Uint8Array(n));
      items = grown(items, (n) => new Int32Array(n));
    };
    return {
      get postings() {
        return count;
      },
      add(itemId, document) {
        const item = itemIds.length;
        itemIds.push(itemId);
        let length = 0;
        for (const term of parseTsvector(document)) {
          let lexeme = lexemeIndex.get(term.lexeme);
          if (lexeme === undefined) {
            lexeme = lexemeIndex.size;
            lexemeIndex.set(term.lexeme, lexeme);
          }
          if (count === lexemes.length) grow();
          lexemes[count] = lexeme;
          frequencies[count] = term.weightedFrequency;
          fields[count] = term.fields;
          items[count] = item;
          count++;
          length += term.weightedFrequency;
        }
        lengths.push(length);
      },
      finish() {
        // Counting sort by lexeme; items stay ascending within each lexeme (they were added in order).
        const starts = new Int32Array(lexemeIndex.size + 1);
        for (let at = 0; at < count; at++) starts[lexemes[at]! + 1]!++;
        for (let lexeme = 0; lexeme < lexemeIndex.size; lexeme++) starts[lexeme + 1]! += starts[lexeme]!;
        const next = starts.slice(0, lexemeIndex.size);
        const postingItems = new Int32Array(count);
        const postingFrequencies = new Float32Array(count);
        const postingFields = new Uint8Array(count);
        for (let at = 0; at < count; at++) {
          const to = next[lexemes[at]!]!++;
          postingItems[to] = items[at]!;
          postingFrequencies[to] = frequencies[at]!;
          postingFields[to] = fields[at]!;
        }
        return new TextIndex({
          itemIds,
          lexemeIndex,
          starts,
          postingItems,
          postingFrequencies,
          postingFields,
          lengths: Float32Array.from(lengths),
        });
      },
    };
  }

  /** Items whose document the index holds. */
  get size(): number {
    return this.#documents;
  }

  /** Changed documents held beside the base. */
  get changedCount(): number {
    return this.#changed.size;
  }

  get bytes(): number {
    return this.#postingItems.length * BYTES_PER_POSTING + this.#itemIds.length * BYTES_PER_ITEM;
  }

  /** Estimated bytes of an index over `items` documents of `postings` lexemes in all. */
  static estimateBytes(items: number, postings: number): number {
    return postings * BYTES_PER_POSTING + items * BYTES_PER_ITEM;
  }

  /** A document written since the build (null: the item has no document any more). */
  apply(itemId: string, document: string | null): void {
    const base = this.#itemIndex.get(itemId);
    const previous = this.#changed.get(itemId);
    if (previous) {
      this.#totalLength -= previous.length;
      this.#documents--;
      this.#changed.delete(itemId);
    } else if (base !== undefined && this.#superseded[base] === 0) {
      this.#superseded[base] = 1;
      this.#totalLength -= this.#lengths[base]!;
      this.#documents--;
    }
    if (document === null) return;
    const terms = new Map<string, { weightedFrequency: number; fields: number }>();
    let length = 0;
    for (const term of parseTsvector(document)) {
      terms.set(term.lexeme, { weightedFrequency: term.weightedFrequency, fields: term.fields });
      length += term.weightedFrequency;
    }
    this.#changed.set(itemId, { terms, length });
    this.#totalLength += length;
    this.#documents++;
  }

  /**
   * The `limit` best items matching `query`, best first (ties by item id), with the fields that match it on
   * their own; undefined when the query has more lexemes than one search evaluates or none that an item must
   * hold (`!word` alone): the caller asks Postgres then.
   */
  search(query: TextQuery, limit: number): TextIndexMatch[] | undefined {
    const lexemes = queryLexemes(query);
    if (lexemes.length > MAX_QUERY_LEXEMES || !hasRequiredLexeme(query)) return undefined;
    const matches = compile(query, lexemes);
    const documents = Math.max(1, this.#documents);
    const averageLength = this.#totalLength / documents || 1;
    const positive = positiveLexemes(query);
    const changed = [...this.#changed.values()];
    const idf = lexemes.map((lexeme) => {
      const index = this.#lexemeIndex.get(lexeme);
      let frequency = index === undefined ? 0 : this.#starts[index + 1]! - this.#starts[index]!;
      for (const document of changed) if (document.terms.has(lexeme)) frequency++;
      return positive.has(lexeme) ? Math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5)) : 0;
    });
    const saturate = (weightedFrequency: number, length: number) =>
      (weightedFrequency * (K1 + 1)) / (weightedFrequency + K1 * (1 - B + (B * length) / averageLength));

    // Document at a time: one cursor per lexeme over its postings (item indexes ascending); each step takes
    // the lowest item any cursor is on, so every matching item is seen once, reading the postings in order.
    const cursors: { bit: number; at: number; end: number }[] = [];
    lexemes.forEach((lexeme, bit) => {
      const index = this.#lexemeIndex.get(lexeme);
      if (index !== undefined && this.#starts[index + 1]! > this.#starts[index]!)
        cursors.push({ bit, at: this.#starts[index]!, end: this.#starts[index + 1]! });
    });
    const best = new TopK(limit);
    const items = this.#postingItems;
    const score = (cursor: { bit: number; at: number }, item: number) =>
      idf[cursor.bit]! * saturate(this.#postingFrequencies[cursor.at]!, this.#lengths[item]!);
    // A lexeme every match must hold (`heist island`: both) drives: only the items in its postings (the
    // rarest such lexeme's) are looked at, the other cursors leaping to each. Otherwise (`heist or island`),
    // the union, a step per item. Either way items come in ascending order, each scored the same way.
    const required = requiredLexemes(query);
    let driver: { bit: number; at: number; end: number } | undefined;
    for (const lexeme of required) {
      const cursor = cursors.find((candidate) => candidate.bit === lexemes.indexOf(lexeme));
      // A required lexeme no base document holds: no base document matches.
      if (!cursor) {
        cursors.length = 0;
        driver = undefined;
        break;
      }
      if (!driver || cursor.end - cursor.at < driver.end - driver.at) driver = cursor;
    }
    if (driver) {
      for (let d = driver.at; d < driver.end; d++) {
        const item = items[d]!;
        let mask = 0;
        let total = 0;
        for (let at = cursors.length - 1; at >= 0; at--) {
          const cursor = cursors[at]!;
          if (cursor === driver) cursor.at = d;
          else cursor.at = leapTo(items, cursor.at, cursor.end, item);
          if (cursor.at < cursor.end && items[cursor.at] === item) {
            mask |= 1 << cursor.bit;
            total += score(cursor, item);
          }
        }
        if (this.#superseded[item] === 0 && matches(mask)) best.offer(item, total);
      }
    } else
      while (cursors.length > 0) {
        let item = Infinity;
        for (const cursor of cursors) item = Math.min(item, items[cursor.at]!);
        let mask = 0;
        let total = 0;
        for (let at = cursors.length - 1; at >= 0; at--) {
          const cursor = cursors[at]!;
          if (items[cursor.at] !== item) continue;
          mask |= 1 << cursor.bit;
          total += score(cursor, item);
          if (++cursor.at === cursor.end) cursors.splice(at, 1);
        }
        // Item indexes follow the ids in the order they were loaded (ascending): TopK's ties go to the lower.
        if (this.#superseded[item] === 0 && matches(mask)) best.offer(item, total);
      }
    const results: { itemId: string; rank: number; fieldsOf: (lexeme: string) => number }[] = best
      .drain()
      .map(({ itemIndex, score }) => ({
        itemId: this.#itemIds[itemIndex]!,
        rank: score,
        fieldsOf: (lexeme: string) => this.#fieldsInBase(itemIndex, lexeme),
      }));
    for (const [itemId, document] of this.#changed) {
      let mask = 0;
      let score = 0;
      lexemes.forEach((lexeme, bit) => {
        const term = document.terms.get(lexeme);
        if (!term) return;
        mask |= 1 << bit;
        score += idf[bit]! * saturate(term.weightedFrequency, document.length);
      });
      if (mask !== 0 && matches(mask))
        results.push({ itemId, rank: score, fieldsOf: (lexeme) => document.terms.get(lexeme)?.fields ?? 0 });
    }
    results.sort((a, b) => b.rank - a.rank || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    return results.slice(0, limit).map((result) => {
      const inField = (field: TextField) => {
        let mask = 0;
        lexemes.forEach((lexeme, bit) => {
          if (result.fieldsOf(lexeme) & FIELD_BITS[field]) mask |= 1 << bit;
        });
        return matches(mask);
      };
      return {
        itemId: result.itemId,
        rank: result.rank,
        inTitle: inField('A'),
        inLabels: inField('B'),
        inCredits: inField('C'),
        inDescription: inField('D'),
      };
    });
  }

  /** The fields of `lexeme` in a base document (binary search of its postings), 0 when absent. */
  #fieldsInBase(item: number, lexeme: string): number {
    const index = this.#lexemeIndex.get(lexeme);
    if (index === undefined) return 0;
    let low = this.#starts[index]!;
    let high = this.#starts[index + 1]! - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const at = this.#postingItems[middle]!;
      if (at === item) return this.#postingFields[middle]!;
      if (at < item) low = middle + 1;
      else high = middle - 1;
    }
    return 0;
  }
}

/** The query's distinct lexemes, each a bit of the masks `evaluate` reads. */
function queryLexemes(query: TextQuery, into: string[] = []): string[] {
  if (query.kind === 'lexeme') {
    if (!into.includes(query.lexeme)) into.push(query.lexeme);
  } else if (query.kind === 'not') queryLexemes(query.operand, into);
  else {
    queryLexemes(query.left, into);
    queryLexemes(query.right, into);
  }
  return into;
}

/** Lexemes that count towards the score: those not under a `!`. */
function positiveLexemes(query: TextQuery, negated = false, into = new Set<string>()): Set<string> {
  if (query.kind === 'lexeme') {
    if (!negated) into.add(query.lexeme);
  } else if (query.kind === 'not') positiveLexemes(query.operand, !negated, into);
  else {
    positiveLexemes(query.left, negated, into);
    positiveLexemes(query.right, negated, into);
  }
  return into;
}

/** The lexemes every match holds (a lexeme, either side of an `and`, both sides of an `or`). */
function requiredLexemes(query: TextQuery): Set<string> {
  if (query.kind === 'lexeme') return new Set([query.lexeme]);
  if (query.kind === 'not') return new Set();
  const left = requiredLexemes(query.left);
  const right = requiredLexemes(query.right);
  if (query.kind === 'and') return new Set([...left, ...right]);
  return new Set([...left].filter((lexeme) => right.has(lexeme)));
}

/** The first position from `at` (before `end`) whose item is at least `item`: a galloping search. */
function leapTo(items: Uint32Array | Int32Array, at: number, end: number, item: number): number {
  if (at >= end || items[at]! >= item) return at;
  let step = 1;
  let low = at;
  let high = at + 1;
  while (high < end && items[high]! < item) {
    low = high;
    step *= 2;
    high = at + step;
  }
  if (high > end) high = end;
  // items[low] < item, and items[high] >= item or high = end.
  while (low + 1 < high) {
    const middle = (low + high) >>> 1;
    if (items[middle]! < item) low = middle;
    else high = middle;
  }
  return high;
}

/** Whether every match holds at least one of the query's lexemes (so matches are found through postings). */
function hasRequiredLexeme(query: TextQuery): boolean {
  if (query.kind === 'lexeme') return true;
  if (query.kind === 'not') return false;
  if (query.kind === 'and') return hasRequiredLexeme(query.left) || hasRequiredLexeme(query.right);
  return hasRequiredLexeme(query.left) && hasRequiredLexeme(query.right);
}

/** The query as a test of a mask of the lexemes an item holds (bit i: `lexemes[i]`). */
function compile(query: TextQuery, lexemes: readonly string[]): (mask: number) => boolean {
  switch (query.kind) {
    case 'lexeme': {
      const bit = 1 << lexemes.indexOf(query.lexeme);
      return (mask) => (mask & bit) !== 0;
    }
    case 'not': {
      const operand = compile(query.operand, lexemes);
      return (mask) => !operand(mask);
    }
    case 'and': {
      const left = compile(query.left, lexemes);
      const right = compile(query.right, lexemes);
      return (mask) => left(mask) && right(mask);
    }
    case 'or': {
      const left = compile(query.left, lexemes);
      const right = compile(query.right, lexemes);
      return (mask) => left(mask) || right(mask);
    }
  }
}
