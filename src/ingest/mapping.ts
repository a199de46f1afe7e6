// Column mappings for imports: how the fields of a foreign file (a CSV export, someone else's JSON) become
// Marquee records, without preprocessing. A mapping is a list of `target=expression`:
//
//   id=show_id, title=title, genres=listed_in:split(","), durationSeconds=duration:minutes,
//   credits=director:split(","):credits(director) + cast:split(","):credits(actor), attributes.seasons=duration:seasons
//
// An expression is one or more terms joined by `+` (lists are concatenated); a term is a source column (or a
// quoted constant) followed by transforms. Empty values are absent values. A mapping file is a JSON object
// of the same `target: expression` pairs.

import { countryCode } from './country-codes.ts';

export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

/**
 * Path segments that reach a prototype when written through (`x.__proto__.y = 1`, `x.constructor.prototype.y
 * = 1`): refused in targets and source columns alike, so that no mapping can pollute every object.
 */
const RESERVED_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'prototype', 'constructor']);

function checkSegments(path: string, what: 'field' | 'column'): void {
  const reserved = path.split('.').find((segment) => RESERVED_SEGMENTS.has(segment.trim()));
  if (reserved !== undefined)
    throw new MappingError(`"${path}": "${reserved}" is a reserved name and cannot be a ${what} name`);
}

type Value = unknown;
type Transform = (value: Value) => Value;

interface Term {
  source: { column: string } | { constant: string };
  transforms: Transform[];
}
export interface Mapping {
  readonly targets: readonly { path: string[]; terms: Term[] }[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const isEmpty = (value: Value) =>
  value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
const each =
  (fn: (value: string) => Value): Transform =>
  (value) =>
    Array.isArray(value)
      ? value.map((entry) => fn(String(entry))).filter((entry) => !isEmpty(entry))
      : isEmpty(value)
        ? undefined
        : fn(String(value));

function parseDate(text: string): string | undefined {
  const trimmed = text.trim();
  // 25-Sep-21, 25 Sep 2021
  const dayMonthYear = /^(\d{1,2})[- ]([A-Za-z]{3})[a-z]*[- ,]+(\d{2}|\d{4})$/.exec(trimmed);
  if (dayMonthYear) {
    const month = MONTHS.indexOf((dayMonthYear[2] ?? '').toLowerCase());
    const rawYear = Number(dayMonthYear[3]);
    const year = rawYear < 100 ? (rawYear < 50 ? 2000 + rawYear : 1900 + rawYear) : rawYear;
    if (month >= 0)
      return `${year}-${String(month + 1).padStart(2, '0')}-${String(dayMonthYear[1]).padStart(2, '0')}`;
  }
  const parsed = Date.parse(trimmed.includes('T') ? trimmed : `${trimmed} UTC`);
  if (Number.isNaN(parsed)) return undefined;
  return new Date(parsed).toISOString().slice(0, 10);
}

function transformFor(name: string, args: string[]): Transform {
  const arg = (index: number) => {
    const value = args[index];
    if (value === undefined) throw new MappingError(`${name}() needs an argument`);
    return value;
  };
  switch (name) {
    case 'split': {
      const separator = arg(0);
      return (value) =>
        isEmpty(value)
          ? undefined
          : String(value)
              .split(separator)
              .map((part) => part.trim())
              .filter(Boolean);
    }
    case 'trim':
      return each((value) => value.trim());
    case 'lower':
      return each((value) => value.toLowerCase());
    case 'upper':
      return each((value) => value.toUpperCase());
    case 'int':
    case 'number':
      return each((value) => {
        const number = Number(value.trim());
        return Number.isFinite(number) ? (name === 'int' ? Math.trunc(number) : number) : value;
      });
    case 'year':
      return each((value) => /\b(\d{4})\b/.exec(value)?.[1]);
    case 'date':
      return each((value) => parseDate(value));
    case 'minutes':
      return each((value) => {
        const match = /^\s*(\d+(?:\.\d+)?)\s*min/i.exec(value);
        return match ? Math.round(Number(match[1]) * 60) : undefined;
      });
    case 'seconds':
      return each((value) => Math.round(Number(value)));
    case 'seasons':
      return each((value) => {
        const match = /^\s*(\d+)\s*seasons?\b/i.exec(value);
        return match ? Number(match[1]) : undefined;
      });
    case 'map': {
      const table = new Map<string, string>();
      for (const pair of args.join(',').split(';')) {
        const [from, to] = pair.split('=');
        if (from === undefined || to === undefined)
          throw new MappingError(`map() takes from=to;from=to pairs`);
        table.set(from.trim(), to.trim());
      }
      return each((value) => table.get(value.trim()) ?? value);
    }
    case 'credits': {
      const role = arg(0);
      return (value) =>
        isEmpty(value)
          ? undefined
          : (Array.isArray(value) ? value : [value])
              .map((name) => String(name).trim())
              .filter(Boolean)
              .map((name) => ({ name, role }));
    }
    case 'country':
      // Unknown names stay as they are: no data is lost, and the import's records say what was sent.
      return each((value) => countryCode(value) ?? value.trim());
    case 'bool':
      return each((value) => ['1', 'true', 'yes', 'y'].includes(value.trim().toLowerCase()));
    default:
      throw new MappingError(
        `unknown transform "${name}" (known: split, trim, lower, upper, int, number, year, date, minutes, seconds, seasons, map, credits, country, bool)`,
      );
  }
}

/** Splits on a separator outside quotes and parentheses. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let current = '';
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === separator && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  if (quote) throw new MappingError(`unclosed quote in "${text}"`);
  parts.push(current);
  return parts;
}

const unquote = (text: string) => {
  const trimmed = text.trim();
  return /^(["']).*\1$/s.test(trimmed) ? trimmed.slice(1, -1) : trimmed;
};

function parseTerm(text: string): Term {
  const [source, ...steps] = splitTopLevel(text.trim(), ':');
  if (source === undefined || source.trim() === '')
    throw new MappingError(`"${text}" names no source column`);
  const trimmedSource = source.trim();
  if (!/^["']/.test(trimmedSource)) checkSegments(trimmedSource, 'column');
  const transforms = steps.map((step) => {
    const match = /^\s*([a-z]+)\s*(?:\((.*)\))?\s*$/s.exec(step);
    if (!match) throw new MappingError(`cannot read the transform "${step}"`);
    const args = match[2] === undefined ? [] : splitTopLevel(match[2], ',').map(unquote);
    return transformFor(match[1] ?? '', args);
  });
  return {
    source: /^["']/.test(trimmedSource) ? { constant: unquote(trimmedSource) } : { column: trimmedSource },
    transforms,
  };
}

export function parseMapping(spec: string | Record<string, string>): Mapping {
  const pairs: [string, string][] =
    typeof spec === 'string'
      ? splitTopLevel(spec, ',')
          .filter((pair) => pair.trim() !== '')
          .map((pair) => {
            const equals = pair.indexOf('=');
            if (equals < 1) throw new MappingError(`"${pair.trim()}" is not target=source`);
            return [pair.slice(0, equals).trim(), pair.slice(equals + 1)];
          })
      : Object.entries(spec);
  if (pairs.length === 0) throw new MappingError('the mapping is empty');
  return {
    targets: pairs.map(([target, expression]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(target))
        throw new MappingError(`"${target}" is not a field name (use attributes.name for your own fields)`);
      checkSegments(target, 'field');
      if (typeof expression !== 'string')
        throw new MappingError(`the expression for "${target}" must be a string`);
      return { path: target.split('.'), terms: splitTopLevel(expression, '+').map(parseTerm) };
    }),
  };
}

/** A column of the record, or a dotted path into it; own properties only (nothing inherited is data). */
const readPath = (record: Record<string, unknown>, column: string): unknown => {
  if (Object.hasOwn(record, column)) return record[column];
  let value: unknown = record;
  for (const key of column.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
};

/**
 * Applies a mapping to one source record; absent and empty values are left out. The record is built on
 * null-prototype objects: whatever a path says, writing it can only ever add data.
 */
export function applyMapping(mapping: Mapping, record: Record<string, unknown>): Record<string, unknown> {
  const result = Object.create(null) as Record<string, unknown>;
  for (const { path, terms } of mapping.targets) {
    const values = terms
      .map((term) => {
        let value: unknown =
          'constant' in term.source ? term.source.constant : readPath(record, term.source.column);
        if (typeof value === 'string' && value.trim() === '') value = undefined;
        for (const transform of term.transforms) value = transform(value);
        return value;
      })
      .filter((value) => !isEmpty(value) && !(Array.isArray(value) && value.length === 0));
    if (values.length === 0) continue;
    const value: unknown =
      values.length === 1
        ? values[0]
        : values.flatMap((entry): unknown[] => (Array.isArray(entry) ? (entry as unknown[]) : [entry]));
    let target = result;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      target = (
        next !== null && typeof next === 'object' && !Array.isArray(next)
          ? next
          : (target[key] = Object.create(null))
      ) as Record<string, unknown>;
    }
    target[path.at(-1) ?? ''] = value;
  }
  return result;
}
