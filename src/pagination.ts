import { z } from 'zod';
import { ValidationError } from './errors.ts';

// Cursors are opaque to clients: base64url-encoded JSON of the position after the last row served. The
// version lets the format change without misreading cursors issued before.

export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify({ v: 1, ...position })).toString('base64url');
}

export function decodeCursor<T extends z.ZodRawShape>(cursor: string, shape: T): z.infer<z.ZodObject<T>> {
  const schema = z.object({ v: z.literal(1), ...shape });
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const parsed = schema.safeParse(decoded);
    if (parsed.success) return parsed.data as z.infer<z.ZodObject<T>>;
  } catch {
    // falls through to the validation error below
  }
  throw new ValidationError([{ path: 'query.cursor', message: 'is not a cursor this API handed out' }]);
}
