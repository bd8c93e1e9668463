/**
 * The one credential detector of the project. The constructs refuse a manifest string in which it
 * finds anything, and `redact` masks what it finds, so what a construct would refuse and what
 * a log or an error hides are the same thing.
 *
 * Each kind is one row of {@link ROWS}: a pattern whose `secret` group is the part to hide (the
 * context around it, such as `amqp://agent:`, `Bearer ` or `?token=`, stays readable), and for the
 * kinds whose shape alone is not enough, a check that tells a credential from a name or a word.
 */

/** One credential-shaped span of a text: `text.slice(start, end)` is the secret itself. */
export interface CredentialMatch {
  readonly kind: CredentialKind;
  readonly start: number;
  readonly end: number;
}

interface Row {
  readonly kind: string;
  /** Completes "carries …" in an error message. */
  readonly description: string;
  /** Global, with `d` (indices) and a `secret` group. */
  readonly pattern: RegExp;
  /** False when the shape matched but the secret is a name, a word or a port rather than a credential. */
  readonly accept?: (secret: string) => boolean;
}

/**
 * Longest user name or password looked at. Bounds the search for the last `@` so a long run of
 * text without whitespace costs linear time; longer secrets in a URL are JWTs, which their own row
 * finds.
 */
const MAX_USERINFO = 1024;

/** What ends a URL in running text: whitespace, quotes, angle brackets. */
const URL_END = `\\s'"\`<>`;
/** Where a URL can start: a scheme not glued to a longer word. */
const SCHEME = '(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://';

/**
 * Some character other than `*`: a secret of stars alone is a mask (`***`, as `redact` leaves, or
 * `****`), so masked text is never found again.
 */
const NOT_MASKED = /[^*]/;

/** Characters of tokens in the usual base64/base64url alphabets, used for word boundaries. */
const TOKEN_CHAR = 'A-Za-z0-9_-';

/**
 * Mixed case and a digit: what a random key has and a name such as `sk-learn-training-pipeline-v2`
 * (lowercase, as Kubernetes names are) has not.
 */
function looksRandom(secret: string): boolean {
  return /[A-Z]/.test(secret) && /[a-z]/.test(secret) && /[0-9]/.test(secret);
}

/** A word of prose ("Bearer multi-tenant"), not a token. */
function isWord(secret: string): boolean {
  return /^(?:[A-Z]?[a-z]+|[A-Z]+)(?:-(?:[A-Z]?[a-z]+|[A-Z]+))*$/.test(secret);
}

/**
 * `user:password` in base64, as the Basic scheme sends it, the user printable: a word of prose
 * ("Basic authentication") decodes to bytes without that shape.
 */
function isBasicCredential(secret: string): boolean {
  try {
    return /^[\x20-\x7e]*:/.test(atob(secret));
  } catch {
    return false;
  }
}

/** Query parameter names whose value is a secret; whole names only, case-insensitive. */
function queryParameter(names: string): RegExp {
  return new RegExp(`[?&](?:${names})=(?<secret>[^&#${URL_END}]+)`, 'dgi');
}

const ROWS = [
  // Specific shapes first: when two rows find the same span, the earlier row names it.
  {
    kind: 'private-key',
    description: 'a PEM private key',
    // The armour stays; the body (which never holds `-----`) is hidden, also when the END line was
    // cut off, in which case it is the base64 that follows, with newlines raw or escaped as `\n`.
    pattern:
      /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?<secret>(?:(?!-----)[\s\S])*(?=-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)|(?:\s|\\n)*[A-Za-z0-9+/=]{16,}[A-Za-z0-9+/=\\\s]*)/dg,
    // A key's body is lines of base64; text after a lone BEGIN line is not.
    accept: (secret) => /[A-Za-z0-9+/]{16}/.test(secret),
  },
  {
    kind: 'jwt',
    description: 'a JSON Web Token',
    pattern: new RegExp(
      `(?<![${TOKEN_CHAR}])(?<secret>eyJ[${TOKEN_CHAR}]+\\.eyJ[${TOKEN_CHAR}]+\\.[${TOKEN_CHAR}]*)(?![${TOKEN_CHAR}])`,
      'dg',
    ),
  },
  {
    kind: 'github-token',
    description: 'a GitHub token',
    pattern:
      /(?<![A-Za-z0-9_])(?<secret>gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})(?![A-Za-z0-9_])/dg,
  },
  {
    kind: 'slack-token',
    description: 'a Slack token',
    pattern: /(?<![A-Za-z0-9_-])(?<secret>(?:xox[abprs]|xapp)-[0-9]+-[A-Za-z0-9-]{8,})(?![A-Za-z0-9_-])/dg,
  },
  {
    kind: 'google-api-key',
    description: 'a Google API key',
    pattern: new RegExp(`(?<![${TOKEN_CHAR}])(?<secret>AIza[${TOKEN_CHAR}]{35})(?![${TOKEN_CHAR}])`, 'dg'),
  },
  {
    kind: 'aws-access-key-id',
    description: 'an AWS access key id',
    pattern: /(?<![A-Za-z0-9])(?<secret>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])/dg,
  },
  {
    kind: 'api-key',
    description: 'an OpenAI/Anthropic-style API key',
    // `sk-`, `sk-proj-…`, `sk-ant-api03-…`: at least 20 characters after `sk-`.
    pattern: new RegExp(`(?<![${TOKEN_CHAR}])(?<secret>sk-[${TOKEN_CHAR}]{20,})(?![${TOKEN_CHAR}])`, 'dg'),
    accept: looksRandom,
  },
  {
    kind: 'bearer-token',
    description: 'a bearer token',
    pattern: /\bBearer[ \t]+(?<secret>[A-Za-z0-9._~+/-]{8,}=*)(?![A-Za-z0-9._~+/=-])/dgi,
    accept: (secret) => !isWord(secret),
  },
  {
    kind: 'basic-credentials',
    description: 'HTTP Basic credentials',
    pattern: /\bBasic[ \t]+(?<secret>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9._~+/=-])/dgi,
    accept: isBasicCredential,
  },
  {
    kind: 'url-password',
    description: 'a password in a URL',
    // The host follows the last `@` before the URL ends, so a raw `@`, `/` or `:` in the password
    // is hidden with the rest of it. The user name holds no `/` or `?`: with one, the `@` is in
    // the path or the query.
    pattern: new RegExp(
      `${SCHEME}[^${URL_END}/?#:\\[\\]]{0,${MAX_USERINFO}}:(?<secret>[^${URL_END}#]{1,${MAX_USERINFO}})@`,
      'dgi',
    ),
    // `host:9090/path?q=a@b` is a port and a path, not `user:password@`.
    accept: (secret) => !/^[0-9]{1,5}[/?]/.test(secret),
  },
  {
    kind: 'url-token',
    description: "a token in a URL's user name",
    pattern: new RegExp(`${SCHEME}(?<secret>[^${URL_END}/?#:]{1,${MAX_USERINFO}})@`, 'dgi'),
    // `ssh://git@github.com/…`: the fixed user of SSH git hosting, never a secret.
    accept: (secret) => secret !== 'git',
  },
  {
    kind: 'query-credential',
    description: 'a credential in a URL query',
    pattern: queryParameter(
      'password|passwd|pwd|token|access_token|refresh_token|secret|client_secret|api[_-]?key|access[_-]?key|key',
    ),
  },
  {
    kind: 'signed-url',
    description: 'the signature of a signed URL',
    pattern: queryParameter(
      'sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential',
    ),
  },
] as const satisfies readonly Row[];

/** What {@link findCredentials} recognises; {@link describeCredential} words each for a person. */
export type CredentialKind = (typeof ROWS)[number]['kind'];

/** Every kind, in the order their rows are tried. */
export const CREDENTIAL_KINDS: readonly CredentialKind[] = ROWS.map((row) => row.kind);

/** A credential of `kind`, worded to follow "carries": "a password in a URL", "a bearer token", … */
export function describeCredential(kind: CredentialKind): string {
  return (ROWS as readonly Row[]).find((row) => row.kind === kind)!.description;
}

/**
 * Every credential-shaped span of `text`, sorted by position. Spans that overlap or touch are
 * merged into one, named by the one that starts first (at the same start: the longer, then the
 * more specific kind), so masking each span hides all of every credential.
 */
export function findCredentials(text: string): CredentialMatch[] {
  const found: { kind: CredentialKind; start: number; end: number; rank: number }[] = [];
  ROWS.forEach((row: Row & { kind: CredentialKind }, rank) => {
    const pattern = row.pattern;
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const [start, end] = match.indices!.groups!.secret!;
      const secret = text.slice(start, end);
      if (NOT_MASKED.test(secret) && (row.accept?.(secret) ?? true)) {
        found.push({ kind: row.kind, start, end, rank });
      } else {
        // A rejected match may hide one that starts inside it, e.g. a URL in the query of another.
        pattern.lastIndex = match.index + 1;
      }
    }
  });
  found.sort((a, b) => a.start - b.start || b.end - a.end || a.rank - b.rank);
  const merged: CredentialMatch[] = [];
  for (const { kind, start, end } of found) {
    const last = merged.at(-1);
    if (last !== undefined && start <= last.end) {
      merged[merged.length - 1] = { ...last, end: Math.max(last.end, end) };
    } else {
      merged.push({ kind, start, end });
    }
  }
  return merged;
}

/** True when `text` holds anything {@link findCredentials} finds. */
export function carriesCredential(text: string): boolean {
  return findCredentials(text).length > 0;
}
