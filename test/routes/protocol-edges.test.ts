import { connect } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../src/server.ts';
import { buildTestApp, json } from '../helpers/test-app.ts';

// Issue 16, finding 7: what the framework answers by itself is a problem too; server-sent events honour
// `Connection: close`; capability URLs stay out of the logs; erasure revokes the user's tokens.

/** Sends raw bytes to the server and resolves with everything it answered until it closed the socket. */
async function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve(answer) : reject(error),
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer in 10 s; so far: ${answer}`)));
  });
}

const bodyOf = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4);

t.test('431, 400 from the HTTP parser and 406 from a plugin are problem+json', async (t) => {
  const { app, inject } = await buildTestApp(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;

  const huge = await rawExchange(
    port,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  );
  t.match(huge, /^HTTP\/1\.1 431 /, 'headers too large: 431');
  t.match(huge, /content-type: application\/problem\+json/i);
  t.match(JSON.parse(bodyOf(huge)), { status: 431, type: 'urn:marquee:problem:headers-too-large' });

  const garbage = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n');
  t.match(garbage, /^HTTP\/1\.1 400 /, 'a malformed request line: 400');
  t.match(JSON.parse(bodyOf(garbage)), { status: 400, type: 'urn:marquee:problem:bad-request' });

  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien', genres: ['Horror'] }) });
  const page = await inject({ method: 'GET', url: '/v1/items/m1/similar?explain=async' });
  const streamUrl = page.json().explanationStream?.url as string | undefined;
  t.ok(streamUrl, 'an explanation stream');
  if (streamUrl) {
    const refused = await app.inject({
      method: 'GET',
      url: streamUrl,
      headers: { accept: 'application/json' },
    });
    t.equal(refused.statusCode, 406, 'a stream asked for as JSON: 406');
    t.match(refused.headers['content-type'], /^application\/problem\+json/);
    t.match(refused.json(), { status: 406, type: 'urn:marquee:problem:not-acceptable', requestId: /./ });
  }
});

t.test('a server-sent event stream honours Connection: close', async (t) => {
  const { app, inject } = await buildTestApp(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien', genres: ['Horror'] }) });
  await inject({ method: 'PUT', url: '/v1/items/m2', ...json({ title: 'Aliens', genres: ['Horror'] }) });
  const page = await inject({ method: 'GET', url: '/v1/items/m1/similar?explain=async' });
  const streamUrl = page.json().explanationStream.url as string;
  const answer = await rawExchange(
    port,
    `GET ${streamUrl} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`,
  );
  t.match(answer, /^HTTP\/1\.1 200 /);
  t.match(answer, /\r\nconnection: close\r\n/i, 'the answer says close');
  t.notMatch(answer, /connection: keep-alive/i, 'and not keep-alive');
  t.match(answer, /event: done/, 'the stream ran to its end, then the server closed the socket');
});

t.test('explanation stream ids are redacted in the request log', async (t) => {
  let captured = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      captured += chunk.toString();
      done();
    },
  });
  const { app, inject } = await buildTestApp(t, { logger: createLogger({ logLevel: 'info' }, sink) });
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien', genres: ['Horror'] }) });
  await inject({ method: 'PUT', url: '/v1/items/m2', ...json({ title: 'Aliens', genres: ['Horror'] }) });
  const streamUrl = (await inject({ method: 'GET', url: '/v1/items/m1/similar?explain=async' })).json()
    .explanationStream.url as string;
  const streamId = streamUrl.split('/').at(-1) ?? '';
  const stream = await app.inject({
    method: 'GET',
    url: streamUrl,
    headers: { accept: 'text/event-stream' },
  });
  t.equal(stream.statusCode, 200);
  t.ok(streamId.length >= 16);
  t.match(captured, /"url":"\/v1\/explanations\/\[redacted\]"/, 'the stream request is logged, redacted');
  t.notOk(captured.includes(streamId), 'the stream id appears nowhere in the log');
});

t.test(
  'erasing a user revokes their tokens: an old token can no longer act for them or re-create them',
  async (t) => {
    const { app, inject } = await buildTestApp(t);
    await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) });
    const token = (
      await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'alice' }) })
    ).json().token as string;
    const asToken = (bearer: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/events',
        ...json({ events: [{ userId: 'alice', itemId: 'm1', type: 'play' }] }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      });
    t.equal((await asToken(token)).json().accepted, 1, 'the token works');
    t.equal((await inject({ method: 'DELETE', url: '/v1/users/alice' })).statusCode, 204);
    const after = await asToken(token);
    t.equal(after.statusCode, 401, 'the old token is refused');
    t.match(after.json().detail, /revoked/);
    t.equal(
      (await inject({ method: 'GET', url: '/v1/users/alice' })).statusCode,
      404,
      'and the user was not re-created',
    );
    // A token minted after the erasure (in a later second than it) works: the user may come back.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const fresh = (
      await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'alice' }) })
    ).json().token as string;
    t.equal((await asToken(fresh)).json().accepted, 1, 'a new token works');
  },
);
