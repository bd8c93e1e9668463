/**
 * The one redaction function of the project: the constructs' validation errors, the worker's
 * logs and config errors and the CLI's output all pass text through {@link redact} before a
 * person or a log store sees it.
 */

/** What replaces a hidden credential. */
export const REDACTED = '***';

/** `scheme://user:password@` or `scheme://token@`: credentials in a URL's userinfo. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*)@/gi;

/** Query parameters that carry credentials (`?password=`, `&token=`, `?api_key=`, …). */
const CREDENTIAL_QUERY =
  /([?&](?:password|passwd|pwd|token|access_token|secret|api[_-]?key|access[_-]?key|key|sig|signature|x-amz-signature|x-amz-credential|x-goog-signature)=)[^&\s#]+/gi;

/**
 * `text` with every credential it can recognise replaced by `***`: the password of a URL
 * (`amqp://agent:***@host`), a username-only userinfo, common for token auth (`amqp://***@host`),
 * credential query parameters, and each of `known` (e.g. the password of the URL the caller
 * connected with, which a library may repeat in its own error text), raw and percent-encoded.
 */
export function redact(text: string, known: readonly string[] = []): string {
  let out = text;
  for (const secret of known) {
    if (secret.length > 0) {
      out = out.split(secret).join(REDACTED);
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) {
        out = out.split(encoded).join(REDACTED);
      }
    }
  }
  return out
    .replace(URL_USERINFO, (_match, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      if (userinfo === '' || userinfo === REDACTED || userinfo.endsWith(`:${REDACTED}`)) {
        return `${scheme}${userinfo}@`;
      }
      return colon < 0 ? `${scheme}${REDACTED}@` : `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
    })
    .replace(CREDENTIAL_QUERY, `$1${REDACTED}`);
}

/**
 * The credentials a URL carries (its password, or its user name when there is no password, as in
 * token auth), decoded, for {@link redact}'s `known` list. Empty for anything that is not a URL.
 */
export function credentialsOf(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  const secret = parsed.password !== '' ? parsed.password : parsed.username;
  if (secret === '') {
    return [];
  }
  const decoded = safeDecode(secret);
  return decoded === secret ? [secret] : [secret, decoded];
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
