/**
 * Credentials for the no-secret-in-output tests: generators for the shapes users have (token auth with
 * base64 characters, passwords with "/", "@" and "%"), and a check that looks for every form a
 * credential could take on its way through URLs, amqplib, client-node and our messages.
 */
import * as fc from 'fast-check';

const ALNUM = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789';

/**
 * Tokens as token auth hands them out: letters, digits and the base64 / base64url extras. Long and
 * prefixed, so they cannot turn up in the output by chance.
 */
export const tokens: fc.Arbitrary<string> = fc
  .string({ unit: fc.constantFrom(...`${ALNUM}-._~+/=`), minLength: 16, maxLength: 32 })
  .map((s) => `tk${s}`);

/** Passwords holding "/", "@" and "%" (which a URL must carry percent-encoded), and other punctuation. */
const passwordPart = fc.string({
  unit: fc.constantFrom(...`${ALNUM}-_.!~*$&+,;=:`),
  minLength: 3,
  maxLength: 8,
});
export const passwords: fc.Arbitrary<string> = fc
  .tuple(passwordPart, passwordPart, passwordPart, passwordPart)
  .map(([a, b, c, d]) => `pw${a}/${b}@${c}%${d}`);

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `secret` as a URL's parser percent-encodes it in a userinfo. */
function userinfoEncoded(secret: string): string {
  const u = new URL('http://host/');
  u.username = secret;
  return u.username;
}

/**
 * The forms `secret` can take: raw, percent-encoded (as encodeURIComponent does, with lower-case hex too,
 * and as a URL's userinfo does), decoded, as amqplib decodes it (`unescape`), base64 (basic auth).
 */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>();
  for (const s of [secret, safeDecode(secret)]) {
    const encoded = encodeURIComponent(s);
    forms.add(s);
    forms.add(encoded);
    forms.add(encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
    forms.add(userinfoEncoded(s));
    forms.add(unescape(s));
    forms.add(Buffer.from(s).toString('base64'));
  }
  return [...forms];
}

/** Fails when any form of any of `secrets` appears in any of `texts`. */
export function expectNoSecret(texts: string | readonly string[], secrets: readonly string[]): void {
  const all = typeof texts === 'string' ? texts : texts.join('\n');
  for (const secret of secrets) {
    for (const form of secretForms(secret)) {
      if (all.includes(form)) {
        throw new Error(`a form of a secret (${JSON.stringify(form)}) appears in the output:\n${all}`);
      }
    }
  }
}

/** `amqp://TOKEN@hostPort/` (token auth) or `amqp://agent:PASSWORD@hostPort/`, percent-encoded as a URL needs. */
export function brokerUrlWith(kind: 'token' | 'password', secret: string, hostPort: string): string {
  const userinfo = kind === 'token' ? encodeURIComponent(secret) : `agent:${encodeURIComponent(secret)}`;
  return `amqp://${userinfo}@${hostPort}/`;
}
