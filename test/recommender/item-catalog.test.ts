import t from 'tap';
import { type CatalogEntry, ItemCatalog } from '../../src/recommender/item-catalog.ts';

const entry = (itemId: string, releaseYear: number | null, createdAt: number): CatalogEntry => ({
  itemId,
  title: itemId,
  genres: [],
  seriesId: null,
  releaseYear,
  availableFrom: null,
  availableUntil: null,
  createdAt,
  boost: 0,
});

t.test('the releases since a year: newest release first, then latest added, then by id', async (t) => {
  const catalog = new ItemCatalog();
  catalog.set(entry('old', 1999, 5));
  catalog.set(entry('undated', null, 9));
  catalog.set(entry('last-year-b', 2025, 3));
  catalog.set(entry('last-year-a', 2025, 3));
  catalog.set(entry('last-year-late', 2025, 8));
  catalog.set(entry('this-year', 2026, 1));
  const ids = (year: number) => catalog.releasedSince(year).map((found) => found.itemId);
  t.same(ids(2025), ['this-year', 'last-year-late', 'last-year-a', 'last-year-b']);
  t.same(ids(2026), ['this-year'], 'another year, another list');
  t.same(ids(2100), []);
  const listed = catalog.releasedSince(2026);
  catalog.set(entry('older', 1980, 9));
  t.equal(
    catalog.releasedSince(2026),
    listed,
    'an item of the back list changed: the same list, not rebuilt',
  );
  catalog.set(entry('old', 2026, 7));
  t.same(ids(2026), ['old', 'this-year'], 'an entry changed: the list follows');
});
