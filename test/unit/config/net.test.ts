/**
 * Downloads keep to the URL policy on every hop and every connection (issue 20 item 1): a public URL that
 * redirects to a metadata address, or a host name that resolves to a private one, is refused.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { fetchPublic, guardedLookup, MAX_REDIRECTS } from '../../../engine/config/net';
import { loadOboUrl } from '../../../engine/ontology/obo';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';

/** A local server: `/to?url` redirects to `url`, `/hop/N` redirects N more times, `/ok` answers. */
async function serve(t: TestContext): Promise<{ base: string; hits: string[] }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/to') {
      res.writeHead(302, { location: decodeURIComponent(u.search.slice(1)) });
      res.end();
    } else if (u.pathname.startsWith('/hop/')) {
      const n = Number(u.pathname.slice(5));
      res.writeHead(301, { location: n > 0 ? `/hop/${n - 1}` : '/ok' });
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('format-version: 1.4\n\n[Term]\nid: X:1\nname: one\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

const refused = (pattern: RegExp) => (e: unknown): boolean => e instanceof BbioError && e.code === 'E_URL_REFUSED' && pattern.test(e.message) && !!e.hint;

test('a redirect to a link-local or private address is refused, naming the URL it came from', async (t) => {
  const { base } = await serve(t);
  const cacheDir = await tempDir(t, 'bbio-net-');
  const metadata = `${base}/to?${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`;
  await assert.rejects(loadOboUrl(metadata, { cacheDir }), refused(/169\.254\.169\.254.*redirected from .*\/to\?/));
  await assert.rejects(fetchPublic(`${base}/to?${encodeURIComponent('https://10.1.2.3/go.obo')}`), refused(/10\.1\.2\.3 is a private/));
  await assert.rejects(fetchPublic(`${base}/to?${encodeURIComponent('file:///etc/passwd')}`), refused(/scheme `file:`/));
});

test('redirects within policy are followed, relative ones too, up to a limit', async (t) => {
  const { base, hits } = await serve(t);
  const cacheDir = await tempDir(t, 'bbio-net-');
  const ont = await loadOboUrl(`${base}/hop/2`, { cacheDir });
  assert.equal(ont.terms.get('X:1')?.name, 'one');
  assert.deepEqual(hits, ['/hop/2', '/hop/1', '/hop/0', '/ok']);
  await assert.rejects(fetchPublic(`${base}/hop/${MAX_REDIRECTS}`), (e: unknown) => e instanceof BbioError && /more than 5 redirects/.test(e.message));
});

test('a public host name that resolves to a private address is refused when connecting', async () => {
  const answers: Record<string, string> = { 'metadata.example': '169.254.169.254', 'intranet.example': '10.0.0.7', 'sneaky.example': '127.0.0.1', 'obo.example': '93.184.216.34' };
  const resolve = (host: string, _o: unknown, cb: (err: NodeJS.ErrnoException | null, a: { address: string; family: number }[]) => void): void =>
    cb(null, [{ address: answers[host] ?? '203.0.113.9', family: 4 }]);
  const lookup = guardedLookup(false, resolve);
  const ask = (host: string): Promise<string> => new Promise((ok, fail) => lookup(host, { family: 0 }, (err, address) => (err ? fail(err) : ok(address as string))));
  await assert.rejects(ask('metadata.example'), refused(/metadata\.example resolves to 169\.254\.169\.254/));
  await assert.rejects(ask('intranet.example'), refused(/10\.0\.0\.7/));
  await assert.rejects(ask('sneaky.example'), refused(/127\.0\.0\.1/), 'loopback only when the URL names a loopback host');
  assert.equal(await ask('obo.example'), '93.184.216.34');
  assert.equal(await new Promise((ok, fail) => guardedLookup(true, resolve)('sneaky.example', { family: 0 }, (err, a) => (err ? fail(err) : ok(a)))), '127.0.0.1');
  // the request itself uses the guarded lookup: it fails before any connection is made
  await assert.rejects(fetchPublic('https://intranet.example/go.obo', { resolve }), refused(/intranet\.example resolves to 10\.0\.0\.7/));
});

test('an authorization header follows a redirect within its origin only, never to another host (a Hub token and its CDN)', async (t) => {
  const seen: Array<[string, string | undefined]> = [];
  const start = async (): Promise<string> => {
    const server = createServer((req, res) => {
      seen.push([`${req.headers.host}${req.url}`, req.headers.authorization]);
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/to') res.writeHead(302, { location: decodeURIComponent(u.search.slice(1)) }).end();
      else res.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const [hub, cdn] = [await start(), await start()];
  const headers = { authorization: 'Bearer hf_secret' };
  const same = await fetchPublic(`${hub}/to?${encodeURIComponent(`${hub}/file`)}`, { headers });
  same.res.resume();
  const other = await fetchPublic(`${hub}/to?${encodeURIComponent(`${cdn}/blob`)}`, { headers });
  other.res.resume();
  assert.deepEqual(seen.map(([where, auth]) => [where.replace(/^127\.0\.0\.1:\d+/, (h) => (`http://${h}` === hub ? 'hub' : 'cdn')), auth]), [
    [`hub/to?${encodeURIComponent(`${hub}/file`)}`, 'Bearer hf_secret'], ['hub/file', 'Bearer hf_secret'],
    [`hub/to?${encodeURIComponent(`${cdn}/blob`)}`, 'Bearer hf_secret'], ['cdn/blob', undefined],
  ]);
  // redirect: 'manual' returns the redirect itself, with its headers, for the Hub's X-Linked-Etag
  const manual = await fetchPublic(`${hub}/to?${encodeURIComponent(`${cdn}/blob`)}`, { redirect: 'manual', method: 'HEAD' });
  manual.res.resume();
  assert.equal(manual.res.statusCode, 302);
  assert.equal(manual.res.headers.location, `${cdn}/blob`);
});
