/**
 * Rows a page at a time in the order of a unique key: `page(after)` reads up to `size` rows after that key
 * (from the start when undefined). Each page is one short statement, so a whole table is read without a
 * long-running query or a cursor holding a connection.
 */
export async function* keysetPages<Row>(
  page: (after: string | undefined) => Promise<Row[]>,
  keyOf: (row: Row) => string,
  size: number,
): AsyncGenerator<Row[]> {
  let after: string | undefined;
  for (;;) {
    const rows = await page(after);
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < size) return;
    after = keyOf(rows[rows.length - 1]!);
  }
}
