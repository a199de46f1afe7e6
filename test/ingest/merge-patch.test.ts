import fc from 'fast-check';
import t from 'tap';
import { applyMergePatch } from '../../src/ingest/merge-patch.ts';

t.test('the examples of RFC 7396, appendix A', async (t) => {
  const examples: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, expected] of examples) {
    t.same(applyMergePatch(target, patch), expected, `${JSON.stringify(target)} + ${JSON.stringify(patch)}`);
  }
});

t.test(
  'properties: never mutates its inputs; an empty patch changes nothing; patching twice is idempotent',
  async (t) => {
    const json = fc.jsonValue();
    const object = fc.dictionary(fc.string({ maxLength: 5 }), json, { maxKeys: 6 });
    fc.assert(
      fc.property(object, object, (target, patch) => {
        const targetCopy = structuredClone(target);
        const patchCopy = structuredClone(patch);
        const once = applyMergePatch(target, patch);
        t.same(target, targetCopy);
        t.same(patch, patchCopy);
        t.same(applyMergePatch(once, patch), once);
        t.same(applyMergePatch(target, {}), target);
        return true;
      }),
      { numRuns: 300 },
    );
  },
);

t.test('keys named like prototype properties are data', async (t) => {
  const patch = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"a": 1}, "toString": null}');
  const result = applyMergePatch({ keep: 1 }, patch) as Record<string, unknown>;
  t.same(Object.keys(result).sort(), ['__proto__', 'constructor', 'keep']);
  t.same(Object.getOwnPropertyDescriptor(result, 'constructor')?.value, { a: 1 });
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reached Object.prototype');
});
