import fc from 'fast-check';
import t from 'tap';
import { applyMapping, MappingError, parseMapping } from '../../src/ingest/mapping.ts';
import { toImportRecord } from '../../src/ingest/import-records.ts';

const RESERVED = ['__proto__', 'prototype', 'constructor'];

t.test('a mapping that names a prototype path is refused, as a target or as a source column', async (t) => {
  for (const spec of [
    'id=id,title=title,__proto__.public="1"',
    'id=id,title=title,attributes.__proto__.x=title',
    'id=id,title=title,attributes.constructor.prototype.x=title',
    'id=id,title=title,prototype=title',
    'id=id,title=__proto__.x',
    'id=id,title=constructor',
    'id=id,title=title:trim + constructor.prototype',
  ]) {
    t.throws(() => parseMapping(spec), MappingError, spec);
    t.throws(() => parseMapping(spec), { message: /reserved name/ }, `${spec}: says why`);
  }
  t.throws(() => parseMapping({ id: 'id', title: 'title', '__proto__.public': '"1"' }), MappingError);
  t.throws(() => parseMapping(JSON.parse('{"id":"id","__proto__":"title"}')), MappingError);
  t.doesNotThrow(() => parseMapping('id=id,title=title,attributes.proto=x,attributes.constructors=y'));
});

t.test('applying a mapping builds data only, whatever the record holds', async (t) => {
  const mapping = parseMapping('id=id,title=title,attributes.studio=studio,attributes.extra=nested.value');
  const record = JSON.parse(
    '{"id":"m1","title":"Alien","studio":"Fox","nested":{"value":"v"},"__proto__":{"public":"1"}}',
  ) as Record<string, unknown>;
  const result = applyMapping(mapping, record);
  t.same(
    { ...result, attributes: { ...(result.attributes as object) } },
    {
      id: 'm1',
      title: 'Alien',
      attributes: { studio: 'Fox', extra: 'v' },
    },
  );
  t.equal(Object.getPrototypeOf(result), null, 'the record is a null-prototype object');
  t.equal(Object.getPrototypeOf(result.attributes), null, 'and so are its nested objects');
  t.equal(({} as Record<string, unknown>).public, undefined, 'nothing was added to Object.prototype');

  // A column that only exists through inheritance is absent, not a function's source text.
  const inherited = applyMapping(parseMapping('id=id,title=toString'), { id: 'm2' });
  t.same(Object.keys(inherited), ['id'], 'an inherited property is not a column');
});

t.test(
  'property: no mapping a caller can write, applied to any record, changes Object.prototype',
  async (t) => {
    const segment = fc.oneof(
      fc.constantFrom(...RESERVED, 'attributes', 'title', 'x'),
      fc.string({ maxLength: 6 }),
    );
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.'));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(path, path), { minLength: 1, maxLength: 4 }),
        fc.jsonValue({ maxDepth: 3 }),
        (pairs, value) => {
          let mapping;
          try {
            mapping = parseMapping(pairs.map(([target, source]) => `${target}=${source}`).join(','));
          } catch (error) {
            if (error instanceof MappingError) return true;
            throw error;
          }
          const record = JSON.parse(JSON.stringify({ x: value, title: value, attributes: value })) as Record<
            string,
            unknown
          >;
          applyMapping(mapping, record);
          return Object.getOwnPropertyNames(Object.prototype).every(
            (name) => !['public', 'x', 'title', 'attributes', 'polluted'].includes(name),
          );
        },
      ),
      { numRuns: 500, seed: 16 },
    );
    t.pass('500 random mappings left Object.prototype alone');
  },
);

t.test('a plain CSV row with __proto__ columns is data, never a prototype', async (t) => {
  const result = toImportRecord({ kind: 'items', format: 'csv', mode: 'replace' }, 2, {
    id: 'm1',
    title: 'Alien',
    __proto__: 'x',
    'attributes.__proto__': 'y',
    'attributes.studio': 'Fox',
  });
  t.ok('record' in result, JSON.stringify(result));
  if ('record' in result && result.record.op === 'upsert') {
    t.same(result.record.data.attributes, { studio: 'Fox' }, 'the reserved name is dropped, the rest kept');
    t.equal(Object.getPrototypeOf(result.record.data), Object.prototype, 'validated data is a plain object');
  }
  t.equal(({} as Record<string, unknown>).public, undefined);
});
