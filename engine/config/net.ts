/**
 * Downloads that keep to the URL policy of `paths.ts` on every hop (issue 20 item 1). Checking the URL
 * a user wrote is not enough: a public `https:` URL may redirect to `http://169.254.169.254/…`, and a public
 * host name may resolve to a private address (DNS rebinding). So redirects are followed here, one at a
 * time, each target checked with `urlRefusal`, and every connection resolves its host through
 * `guardedLookup`, which refuses private, link-local and reserved addresses at the moment of connecting:
 * the address checked is the address used.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { BbioError, type ErrorCode } from '../util/errors';
import { isLoopback, isPrivateAddress, urlRefusal } from './paths';

/** Redirect hops followed before giving up (browsers allow 20; an ontology host needs one or two). */
export const MAX_REDIRECTS = 5;

type Resolve = (host: string, options: dns.LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;

/**
 * A `lookup` for http(s) requests: resolves `host` with `resolve` (dns.lookup) and fails with
 * E_URL_REFUSED when an address it would connect to is private or reserved. Loopback addresses are
 * allowed only when the URL itself named a loopback host (`loopbackHost`), as local test servers do.
 */
export function guardedLookup(loopbackHost: boolean, resolve: Resolve = dns.lookup): LookupFunction {
  return (host, options, callback) => {
    resolve(host, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const bad = addresses.find((a) => isPrivateAddress(a.address) || (!loopbackHost && isLoopback(a.address)));
      if (bad) {
        const e = new BbioError('E_URL_REFUSED', `${host} resolves to ${bad.address}, a private, loopback, link-local or reserved address`, {},
          'use an https: URL of a public host, or download the file into the workspace and give its path') as BbioError & NodeJS.ErrnoException;
        return callback(e, '', 4);
      }
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' }), '', 4);
      // node asks for one address unless options.all; answer in the shape it asked for
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      callback(null, first.address, first.family);
    });
  };
}

export interface FetchPublicOptions {
  signal?: AbortSignal;
  /** For tests: how host names resolve (default dns.lookup). */
  resolve?: Resolve;
  /** Default GET. */
  method?: 'GET' | 'HEAD';
  /**
   * Request headers. An `authorization` header goes to the origin of `url` only: a redirect to another
   * origin (the Hub sends large files to its CDN) drops it, as browsers and Python's requests do, so a
   * token never reaches a host the user did not name.
   */
  headers?: Record<string, string>;
  /** `manual`: return the first response even when it is a redirect (its headers are what the caller needs). */
  redirect?: 'follow' | 'manual';
  /**
   * Fail when a connection stays silent this long, waiting for the answer or in the middle of its body (a
   * stalled server would otherwise hang the run for ever). Default: no limit.
   */
  idleTimeoutMs?: number;
  /** The error code for too many redirects and idle timeouts (default E_ONTOLOGY_DOWNLOAD, the ontology loader's). */
  errorCode?: Extract<ErrorCode, 'E_ONTOLOGY_DOWNLOAD' | 'E_HUB'>;
}

/**
 * GET `url` and return the response of the last hop (status 2xx, 4xx or 5xx; redirects followed). Refuses,
 * with E_URL_REFUSED, a URL or redirect target that `urlRefusal` refuses or a host that resolves to a
 * private address; more than MAX_REDIRECTS hops is an error too.
 */
export async function fetchPublic(url: string, opts: FetchPublicOptions = {}): Promise<{ res: http.IncomingMessage; url: string }> {
  let current = url;
  const origin = new URL(url).origin;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const why = urlRefusal(current);
    if (why) {
      const via = current === url ? '' : ` (redirected from ${url})`;
      throw new BbioError('E_URL_REFUSED', `refused to fetch ${current}${via}: ${why}`, { file: url }, 'use an https: URL of a public host (http: only to localhost), or download the file into the workspace and give its path');
    }
    const u = new URL(current);
    const lookup = guardedLookup(isLoopback(u.hostname.replace(/^\[|\]$/g, '')), opts.resolve);
    const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).filter(([k]) => u.origin === origin || k.toLowerCase() !== 'authorization'));
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      let response: http.IncomingMessage | undefined;
      const req = (u.protocol === 'https:' ? https : http).request(u, { method: opts.method ?? 'GET', headers, lookup, ...(opts.signal ? { signal: opts.signal } : {}) }, (r) => resolve((response = r)));
      req.on('error', reject);
      if (opts.idleTimeoutMs !== undefined) {
        const ms = opts.idleTimeoutMs;
        const where = current;
        // the socket's inactivity timer covers the wait for the headers and every gap in the body; the body's
        // reader gets this error rather than a bare "aborted"
        req.setTimeout(ms, () => {
          const err = new BbioError(opts.errorCode ?? 'E_ONTOLOGY_DOWNLOAD', `${u.host} sent nothing for ${ms / 1000} s`, { file: where }, 'the connection stalled: run again (downloads resume where they stopped)');
          response?.destroy(err);
          req.destroy(err);
        });
      }
      req.end();
    });
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location && opts.redirect !== 'manual') {
      res.resume(); // discard the redirect's body so the socket is freed
      current = new URL(location, current).toString();
      continue;
    }
    return { res, url: current };
  }
  throw new BbioError(opts.errorCode ?? 'E_ONTOLOGY_DOWNLOAD', `more than ${MAX_REDIRECTS} redirects from ${url}`, { file: url }, 'download the file yourself and give its path');
}
