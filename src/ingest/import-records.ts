import type { ImportError } from '../db/database.ts';
import { idSchema } from '../schemas/common.schema.ts';
import { eventInputSchema } from '../schemas/events.schema.ts';
import { itemInputSchema } from '../schemas/items.schema.ts';
import { userInputSchema } from '../schemas/users.schema.ts';
import { describeIssues } from './event-ingest.ts';
import { applyMapping, type Mapping } from './mapping.ts';
import type { ImportFormat } from './record-reader.ts';

export const IMPORT_KINDS = ['items', 'users', 'events'] as const;
export type ImportKind = (typeof IMPORT_KINDS)[number];

/** A validated record, ready for a batch: what it does, to which id, and where it came from. */
export type ImportRecord =
  | { line: number; op: 'upsert'; id: string; data: Record<string, unknown> }
  | { line: number; op: 'delete'; id: string };

const LIST_FIELDS = new Set(['genres', 'tags', 'regions']);
const NUMBER_FIELDS = new Set(['durationSeconds', 'value']);

/**
 * A CSV row without a mapping: columns named like the API's fields, lists separated by "|", numbers as
 * numbers, `attributes.x` and `context.x` columns gathered into their objects, empty cells left out.
 */
function fromPlainCsv(row: Record<string, unknown>): Record<string, unknown> {
  // Null prototypes: a column named `__proto__` or `attributes.__proto__` is data, never a prototype.
  const result = Object.create(null) as Record<string, unknown>;
  for (const [column, raw] of Object.entries(row)) {
    if (typeof raw !== 'string' || raw.trim() === '') continue;
    const text = raw.trim();
    const value = LIST_FIELDS.has(column)
      ? text
          .split('|')
          .map((part) => part.trim())
          .filter(Boolean)
      : NUMBER_FIELDS.has(column) && Number.isFinite(Number(text))
        ? Number(text)
        : text;
    const [head, ...rest] = column.split('.');
    if (rest.length > 0 && (head === 'attributes' || head === 'context')) {
      const object = (result[head] ??= Object.create(null)) as Record<string, unknown>;
      object[rest.join('.')] = value;
    } else result[column] = value;
  }
  return result;
}

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (!text.isWellFormed()) return 'is not valid Unicode (it holds a lone surrogate)';
  return undefined;
}

/** Whether any key or string in the value, at any depth, has a textProblem (iterative: no stack overflow). */
function holdsUnstorableText(source: unknown): boolean {
  const stack: unknown[] = [source];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (textProblem(value)) return true;
    } else if (Array.isArray(value)) {
      for (const child of value) stack.push(child);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (textProblem(key)) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/**
 * What in a source object Postgres would refuse or corrupt, whatever the schemas say: a NUL character (text
 * and jsonb cannot hold one; a raw 0x00 in a CSV cell and an escaped \u0000 in JSON both get here) or a lone
 * surrogate (jsonb refuses its escape, text would silently turn it into U+FFFD), in any key or string at any
 * depth. Returns "path: problem" for the first one found, for the record's error. The common case, nothing
 * found, is checked without building paths.
 */
export function findUnstorableText(source: Record<string, unknown>): string | undefined {
  if (!holdsUnstorableText(source)) return undefined;
  const stack: { value: unknown; path: string }[] = [{ value: source, path: '' }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { value, path } = next;
    if (typeof value === 'string') {
      const problem = textProblem(value);
      if (problem) return `${path || 'value'}: ${problem}`;
    } else if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--)
        stack.push({ value: value[index], path: `${path}[${index}]` });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (const [key] of entries) {
        const problem = textProblem(key);
        if (problem) return `${path || 'record'}: a field name ${problem}`;
      }
      for (let index = entries.length - 1; index >= 0; index--) {
        const [key, child] = entries[index] as [string, unknown];
        stack.push({ value: child, path: path ? `${path}.${key}` : key });
      }
    }
  }
  return undefined;
}

/** Turns one source object into an import record, validated like the single-record endpoints. */
export function toImportRecord(
  kind: ImportKind,
  format: ImportFormat,
  mapping: Mapping | undefined,
  line: number,
  source: Record<string, unknown>,
): { record: ImportRecord } | { error: ImportError } {
  const unstorable = findUnstorableText(source);
  const value = mapping ? applyMapping(mapping, source) : format === 'csv' ? fromPlainCsv(source) : source;
  const rawId = value.id;
  const idText = typeof rawId === 'string' ? rawId : undefined;
  const fail = (reason: string) => ({ error: { line, ...(idText ? { id: idText } : {}), reason } });
  if (unstorable) return fail(unstorable);

  const { op, ...fields } = value;
  if (op !== undefined && op !== 'upsert' && op !== 'delete') return fail('op: must be "upsert" or "delete"');
  if (kind === 'events') {
    if (op === 'delete') return fail('op: events cannot be deleted by import');
    const parsed = eventInputSchema.safeParse(fields);
    if (!parsed.success) return fail(describeIssues(parsed.error.issues));
    return { record: { line, op: 'upsert', id: parsed.data.id ?? '', data: parsed.data } };
  }
  const id = idSchema.safeParse(rawId);
  if (!id.success) return fail(rawId === undefined ? 'id: required' : `id: ${id.error.issues[0]?.message}`);
  if (op === 'delete') return { record: { line, op: 'delete', id: id.data } };
  const { id: _id, ...body } = fields;
  const parsed = kind === 'items' ? itemInputSchema.safeParse(body) : userInputSchema.safeParse(body);
  if (!parsed.success) return fail(describeIssues(parsed.error.issues));
  return { record: { line, op: 'upsert', id: id.data, data: parsed.data } };
}
