/**
 * Event-to-visible latency (issue 18): from the answer to a POST /v1/events to the moment the API reflects
 * the event, measured from outside while other traffic runs.
 *
 * - trending: a probe item of its own (a genre no other item has) is asked for in GET /v1/trending with
 *   that genre first (so an empty answer sits in the cache, the worst case), then played once; the clock
 *   runs until the trending list of that genre shows it;
 * - page: a user's page is read, then the user plays its first item; the clock runs until their next page
 *   no longer offers it.
 */
export interface VisibilityProbe {
  base: string;
  headers: Record<string, string>;
  /** Users whose pages the page probe reads. */
  userIds: readonly string[];
  probes: number;
  /** Stop early (the load it runs beside is over). */
  signal?: AbortSignal;
}

export interface VisibilityResult {
  trendingMs: number[];
  pageMs: number[];
  /** Probes that never became visible within the wait (10 s). */
  missed: number;
}

const POLL_MS = 10;
const GIVE_UP_MS = 10_000;

export async function probeEventVisibility(options: VisibilityProbe): Promise<VisibilityResult> {
  const { base, headers } = options;
  const json = { ...headers, 'content-type': 'application/json' };
  const tag = `probe-${process.pid}-${Date.now().toString(36)}`;
  const result: VisibilityResult = { trendingMs: [], pageMs: [], missed: 0 };
  const until = async (check: () => Promise<boolean>): Promise<number | undefined> => {
    const started = performance.now();
    while (performance.now() - started < GIVE_UP_MS) {
      if (await check()) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return undefined;
  };
  const post = (path: string, body: unknown, method = 'POST') =>
    fetch(`${base}${path}`, { method, headers: json, body: JSON.stringify(body) });

  for (let n = 0; n < options.probes && !options.signal?.aborted; n++) {
    // Trending.
    const itemId = `${tag}-${n}`;
    const genre = `${tag}-genre-${n}`;
    await post(`/v1/items/${itemId}`, { title: `Probe ${n}`, genres: [genre] }, 'PUT');
    const trendingPath = `/v1/trending?limit=5&genres=${encodeURIComponent(genre)}`;
    await fetch(`${base}${trendingPath}`, { headers });
    await post('/v1/events', { events: [{ userId: `${tag}-viewer-${n}`, itemId, type: 'play' }] });
    const trending = await until(async () => {
      const page = (await (await fetch(`${base}${trendingPath}`, { headers })).json()) as {
        items?: { itemId: string }[];
      };
      return page.items?.some((entry) => entry.itemId === itemId) ?? false;
    });
    if (trending === undefined) result.missed++;
    else result.trendingMs.push(trending);

    // A user's page.
    const userId = options.userIds[n % options.userIds.length]!;
    const pagePath = `/v1/users/${encodeURIComponent(userId)}/recommendations?limit=10`;
    const first = (await (await fetch(`${base}${pagePath}`, { headers })).json()) as {
      items?: { itemId: string }[];
    };
    const played = first.items?.[0]?.itemId;
    if (!played) continue;
    await post('/v1/events', { events: [{ userId, itemId: played, type: 'play' }] });
    const page = await until(async () => {
      const next = (await (await fetch(`${base}${pagePath}`, { headers })).json()) as {
        items?: { itemId: string }[];
      };
      return !(next.items ?? []).some((entry) => entry.itemId === played);
    });
    if (page === undefined) result.missed++;
    else result.pageMs.push(page);
  }
  return result;
}

export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
