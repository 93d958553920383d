// The JSON API, by relative URLs only ("api/summary", not "/api/summary"), so the page works
// behind a reverse proxy that mounts it under a sub-path.
//
// A page opened as http://user:pass@nas:8080/ has the credentials in its base URL, and fetch()
// refuses any URL that carries them ("Request cannot be constructed from a URL that includes
// credentials"): each request's URL is resolved and then stripped of them. The browser still
// authenticates: it sends the credentials it used for the page to the same origin by itself.

/** `relative` resolved against the page, without a user name or password. */
export function requestUrl(relative, base = document.baseURI) {
  const url = new URL(relative, base);
  url.username = '';
  url.password = '';
  return url.href;
}

export class ApiError extends Error {
  constructor(path, status, message, body = null) {
    super(message);
    this.path = path;
    this.status = status; // 0 when the server could not be reached
    this.body = body; // the parsed JSON of an error answer, when it was JSON
  }
}

/** GET `api/PATH` with the given query parameters (empty values left out); resolves to the JSON. */
export async function getJson(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, value);
  }
  const search = query.toString();
  const url = requestUrl(`api/${path}${search ? `?${search}` : ''}`);
  let response;
  try {
    response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch (error) {
    throw new ApiError(path, 0, String(error.message || error));
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy's error page, a truncated answer. Report the status and the start of it.
  }
  if (!response.ok) {
    let message = text.slice(0, 160) || response.statusText;
    if (body && typeof body.error === 'string') message = body.error;
    else if (body && typeof body.status === 'string') message = `status "${body.status}"`;
    throw new ApiError(path, response.status, message, body);
  }
  if (body === null) throw new ApiError(path, response.status, 'the answer is not JSON');
  return body;
}
