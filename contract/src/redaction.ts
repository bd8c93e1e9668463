/**
 * The one redaction function of the project: the constructs' validation errors, the worker's
 * logs and config errors and the CLI's output all pass text through {@link redact} before a
 * person or a log store sees it.
 */

import { findCredentials } from './credentials';

/** What replaces a hidden credential. */
export const REDACTED = '***';

/**
 * `text` with every credential it can recognise replaced by `***`: each span
 * {@link findCredentials} finds (the password of a URL, `amqp://agent:***@host`, a token standing
 * alone as a URL's user name, `amqp://***@host`, credential query parameters, bearer tokens, API
 * keys, private keys, …), and each of `known` (e.g. the password of the URL the caller connected
 * with, which a library may repeat in its own error text), raw and percent-encoded. What it returns
 * holds nothing `findCredentials` finds, so redacting it again changes nothing.
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
  // Masking can complete a shape next to it (a key that was glued to a masked span now stands
  // alone), so mask until nothing is found. Each span holds a character other than `*` and becomes
  // `***`, so every pass leaves fewer of those and the loop ends.
  for (let spans = findCredentials(out); spans.length > 0; spans = findCredentials(out)) {
    let masked = '';
    let from = 0;
    for (const { start, end } of spans) {
      masked += out.slice(from, start) + REDACTED;
      from = end;
    }
    out = masked + out.slice(from);
  }
  return out;
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
