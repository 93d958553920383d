// The JSON API, by relative URLs only ("api/summary", not "/api/summary"), so the page works
// behind a reverse proxy that mounts it under a sub-path.

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
  const url = `api/${path}${search ? `?${search}` : ''}`;
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
