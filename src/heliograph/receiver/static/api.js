// The dashboard's only door to the data: the receiver's JSON API on this origin.

const KEY = "heliograph.receiverKey";

export class AuthError extends Error {}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) throw new AuthError("this receiver requires a key");
  const payload = await response.json();
  if (!response.ok) {
    const error = new Error(payload.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return payload.data;
}

export const api = {
  version: () => call("GET", "/v1/dashboard/version"),
  sessions: (query) => call("POST", "/v1/dashboard/sessions", query),
  session: (sessionId, cursor = null) =>
    call("POST", "/v1/dashboard/session", { session_id: sessionId, cursor }),
  requests: (query) => call("POST", "/v1/dashboard/requests", query),
  request: (requestId) => call("GET", `/v1/request/${encodeURIComponent(requestId)}`),
};
