// The JSON API (docs/dashboard.md). Every failure becomes an ApiError whose message says which
// request failed and why, so a page can show it as is.

export class ApiError extends Error {}

/** The API's root, resolved against the page so the dashboard works under any path prefix. */
function apiUrl(path, params) {
  const url = new URL(`api/${path}`, document.baseURI);
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

function describe(url) {
  return `GET ${url.pathname}${url.search}`;
}

async function errorMessages(response) {
  try {
    const body = await response.json();
    const messages = (body.errors ?? []).map((e) => e.message).filter(Boolean);
    if (messages.length) return messages.join("; ");
  } catch {
    // Not the API's JSON error shape (e.g. a proxy's HTML page): the status says enough.
  }
  return response.statusText || "no message";
}

export async function getJson(path, params, { signal } = {}) {
  const url = apiUrl(path, params);
  let response;
  try {
    response = await fetch(url, { cache: "no-store", signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`${describe(url)}: the dashboard's server did not answer (${error.message})`);
  }
  if (!response.ok) {
    throw new ApiError(`${describe(url)} answered ${response.status}: ${await errorMessages(response)}`);
  }
  try {
    return await response.json();
  } catch (error) {
    throw new ApiError(`${describe(url)} answered with invalid JSON (${error.message})`);
  }
}

/** Path segments for the API, each escaped (proxy ids and names may hold any character). */
export function segments(...parts) {
  return parts.map((part) => encodeURIComponent(part)).join("/");
}
