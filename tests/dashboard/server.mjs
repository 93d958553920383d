// The monitor's API as the browser scripts ask it directly (besides the page): a JSON answer
// that must be 200, and waiting until the monitor listens.

import { request as httpRequest } from 'node:http';

/** GET `api/PATH` of the monitor at `base` (a URL's userinfo goes as basic auth): its JSON. */
export function apiOkAt(base, pathAndQuery) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(`api/${pathAndQuery}`, base), (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`api/${pathAndQuery} answered ${res.statusCode}: ${text}`));
        else resolve(JSON.parse(text));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Wait (at most 20 s) until the monitor at `base` answers /api/health with 200. */
export async function waitForServerAt(base) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await apiOkAt(base, 'health');
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the monitor at ${new URL(base).host} did not answer within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
