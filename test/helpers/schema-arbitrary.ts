import fc from 'fast-check';

// fast-check arbitraries from the JSON Schemas of the OpenAPI document: mostly valid values (so that requests
// reach the code behind validation), with hostile ones mixed in at any depth (wrong types, missing and extra
// fields, odd strings, deep nesting). Used by the fuzz test of every operation.

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  format?: string;
  examples?: unknown[];
}

/** Strings that have broken parsers, databases and terminals: NUL, lone surrogates, bidi, huge, reserved. */
export const hostileString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfffy',
    '\u202eevil',
    'zero\u200bwidth',
    '\u0007bell',
    '__proto__',
    'constructor',
    'prototype',
    "'; DROP TABLE items; --",
    '<script>alert(1)</script>',
    '../../etc/passwd',
    '%00',
    '1e309',
    '-0',
    'NaN',
    '😀'.repeat(50),
    'a'.repeat(10_000),
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
);

/** Values of any type, including ones nested past any sane depth. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 20, max: 200 }).map((depth) => nest(depth, (inner) => [inner])),
  fc.integer({ min: 20, max: 200 }).map((depth) => nest(depth, (inner) => ({ a: inner }))),
  fc.constant(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}')),
);

/** The value one time in `oneIn`, null otherwise (fc.option's `freq` is the chance of null, the other way). */
export const rarely = <T>(arbitrary: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });

function nest(depth: number, wrap: (inner: unknown) => unknown): unknown {
  let value: unknown = 'deep';
  for (let level = 0; level < depth; level++) value = wrap(value);
  return value;
}

export class SchemaArbitraries {
  readonly #components: Record<string, JsonSchema>;
  /** Chance that a node is replaced by a hostile value (0 to 1). */
  readonly #hostileShare: number;

  constructor(components: Record<string, JsonSchema>, hostileShare = 0.15) {
    this.#components = components;
    this.#hostileShare = hostileShare;
  }

  /** Values for the schema: valid where the dice say so, hostile elsewhere, at any depth. */
  value(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
    const valid = this.#valid(schema, depth);
    const weight = Math.round(this.#hostileShare * 100);
    return fc.oneof({ weight: 100 - weight, arbitrary: valid }, { weight, arbitrary: hostileValue });
  }

  #resolve(schema: JsonSchema): JsonSchema {
    let current = schema;
    for (let hops = 0; current.$ref && hops < 10; hops++) {
      const name = current.$ref.split('/').at(-1) ?? '';
      current = this.#components[name] ?? {};
    }
    return current;
  }

  #valid(input: JsonSchema, depth: number): fc.Arbitrary<unknown> {
    const schema = this.#resolve(input);
    if (depth > 6) return fc.constant(null);
    if (schema.const !== undefined) return fc.constant(schema.const);
    if (schema.enum) return fc.constantFrom(...schema.enum);
    const variants = schema.anyOf ?? schema.oneOf;
    if (variants?.length) return fc.oneof(...variants.map((variant) => this.value(variant, depth + 1)));
    if (schema.allOf?.length) return this.#valid(Object.assign({}, ...schema.allOf) as JsonSchema, depth);
    const examples = schema.examples?.length ? [fc.constantFrom(...schema.examples)] : [];
    const type = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
    const byType = type.map((name) => this.#ofType(name, schema, depth));
    const all = [...byType, ...examples];
    return all.length > 0 ? fc.oneof(...all) : fc.jsonValue({ maxDepth: 2 });
  }

  #ofType(type: string, schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
    switch (type) {
      case 'string':
        return this.#string(schema);
      case 'integer':
        return fc.integer({
          min: Math.max(schema.minimum ?? -1_000_000, -1_000_000_000),
          max: Math.min(schema.maximum ?? 1_000_000, 1_000_000_000),
        });
      case 'number':
        return fc.double({
          min: schema.minimum ?? -1e6,
          max: schema.maximum ?? 1e6,
          noNaN: true,
          noDefaultInfinity: true,
        });
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array':
        return fc.array(schema.items ? this.value(schema.items, depth + 1) : fc.jsonValue({ maxDepth: 1 }), {
          minLength: schema.minItems ?? 0,
          maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 4, 4)),
        });
      case 'object':
        return this.#object(schema, depth);
      default:
        return fc.jsonValue({ maxDepth: 1 });
    }
  }

  #string(schema: JsonSchema): fc.Arbitrary<string> {
    const bounded = (value: string) =>
      value.length >= (schema.minLength ?? 0) && value.length <= (schema.maxLength ?? Infinity);
    if (schema.format === 'date-time')
      return fc
        .date({ min: new Date('1970-01-02T00:00:00Z'), max: new Date(), noInvalidDate: true })
        .map((date) => date.toISOString());
    if (schema.format === 'uuid') return fc.uuid();
    if (schema.format === 'uri') return fc.webUrl();
    // Dates written as text (2019, 2019-07, 2019-07-04): random digits are rarely a real date.
    if (schema.pattern?.startsWith('^\\d{4}'))
      return fc
        .date({
          min: new Date('1900-01-01T00:00:00Z'),
          max: new Date('2100-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .chain((date) => fc.constantFrom(4, 7, 10).map((length) => date.toISOString().slice(0, length)));
    if (schema.pattern) {
      try {
        const pattern = new RegExp(schema.pattern, 'u');
        return fc
          .stringMatching(pattern)
          .map((value) => value.slice(0, schema.maxLength ?? 64))
          .filter(bounded);
      } catch {
        // A pattern JavaScript cannot read: plain strings below.
      }
    }
    return fc
      .string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) })
      .filter(bounded);
  }

  #object(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
    const properties = schema.properties ?? {};
    const required = new Set(schema.required ?? []);
    const known = Object.fromEntries(
      Object.entries(properties).map(([name, property]) => [name, this.value(property, depth + 1)]),
    );
    const declared =
      Object.keys(properties).length > 0
        ? fc.record(known, { requiredKeys: Object.keys(properties).filter((name) => required.has(name)) })
        : fc.dictionary(
            schema.propertyNames
              ? this.#string(this.#resolve(schema.propertyNames))
              : fc.string({ maxLength: 8 }),
            typeof schema.additionalProperties === 'object'
              ? this.value(schema.additionalProperties, depth + 1)
              : fc.jsonValue({ maxDepth: 2 }),
            { maxKeys: 4 },
          );
    if (this.#hostileShare === 0) return declared;
    // Now and then a required field goes missing, or a field nobody declared appears.
    return fc
      .tuple(
        declared,
        rarely(fc.constantFrom(...required, '__none__'), 8),
        rarely(fc.tuple(fc.oneof(hostileString, fc.string({ maxLength: 8 })), hostileValue), 8),
      )
      .map(([value, drop, extra]) => {
        const result = { ...(value as Record<string, unknown>) };
        if (drop !== null) delete result[drop];
        if (extra !== null && extra[0] !== '__proto__') result[extra[0]] = extra[1];
        return result;
      });
  }
}
