import { BROKER_URL_EXAMPLE, brokerUrlViolation, credentialsOf, Env, redact } from '@agent-fleet/contract';
import * as amqp from 'amqplib';
import { CliError, usageError } from './io';

/**
 * Broker access shared by `seed` and `verify`: find the URL, connect with errors a user can act on, and
 * never print the password.
 */

export interface UrlOptions {
  readonly url?: string;
  readonly urlEnv?: string;
}

/**
 * The broker URL's credentials in every form a message could carry them: as written and decoded
 * (`credentialsOf`), and as amqplib decodes them for the handshake (`unescape`, which reads each `%XX`
 * as one character, so a non-ASCII password turns into other characters than `decodeURIComponent`'s).
 */
export function brokerSecrets(url: string): string[] {
  const secrets = credentialsOf(url);
  for (const secret of [...secrets]) {
    const amqplibForm = unescape(secret);
    if (!secrets.includes(amqplibForm)) {
      secrets.push(amqplibForm);
    }
  }
  return secrets;
}

/**
 * Whether an "@" follows the host. A password typed with a raw "/", "?" or "#" ends the host early and
 * the rest of it lands in the vhost, query or fragment, where no redaction would know it for a password
 * (and the connection would go to the wrong host). A real vhost writes "@" as %40.
 */
function atAfterHost(parsed: URL): boolean {
  return (parsed.pathname + parsed.search + parsed.hash).includes('@');
}

/**
 * How a broker URL may be shown: redacted, as typed, or as the parser re-serialises it when it holds
 * whitespace or control characters (the parser percent-encodes those in the userinfo, where `redact`
 * would otherwise stop short). Undefined when it cannot be shown safely: no host (`amqp:TOKEN@host` is
 * an opaque path to the parser, with no userinfo to tell the token from the rest), or an "@" after the
 * host.
 */
export function shownBrokerUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.hostname === '' || atAfterHost(parsed)) {
    return undefined;
  }
  const plain = !/\s/.test(url) && [...url].every((c) => c >= ' ' && c !== '\x7f');
  const text = plain ? url : parsed.href;
  return redact(text, brokerSecrets(url));
}

/**
 * The broker URL from `--url`, or from the variable named by `--url-env` (default: the worker's own
 * `TASK_QUEUE_URL`). Validates the scheme; errors never contain the password or token.
 */
export function resolveBrokerUrl(options: UrlOptions, env: NodeJS.ProcessEnv): string {
  if (options.url !== undefined && options.urlEnv !== undefined) {
    throw usageError('pass either --url or --url-env, not both.');
  }
  let url: string;
  let source: string;
  if (options.url !== undefined) {
    url = options.url;
    source = '--url';
  } else {
    const name = options.urlEnv ?? Env.TASK_QUEUE_URL;
    const value = env[name];
    if (value === undefined || value === '') {
      throw usageError(
        `no broker URL: pass --url ${BROKER_URL_EXAMPLE}, or set ${name}` +
          (options.urlEnv === undefined ? ' (or name another variable with --url-env)' : '') +
          '.',
      );
    }
    url = value;
    source = `$${name}`;
  }
  const violation = brokerUrlViolation(url);
  if (violation) {
    const shown = shownBrokerUrl(url);
    const notShown = URL.canParse(url) ? ' (not shown: it may hold a password)' : '';
    throw usageError(
      `${source} ${violation.problem}${shown === undefined ? notShown : ` (${shown})`}. Fix: ${violation.fix}.`,
    );
  }
  if (atAfterHost(new URL(url))) {
    throw usageError(
      `${source} has an "@" after the host (not shown: it may hold a password). Fix: percent-encode the ` +
        'user name and password, e.g. with encodeURIComponent: "/" as %2F, "@" as %40, "%" as %25, ' +
        '":" as %3A, "?" as %3F, "#" as %23.',
    );
  }
  return url;
}

/** Connects, turning amqplib's errors into messages that say what to fix (without the password). */
export async function connectBroker(url: string, connectionName: string): Promise<amqp.ChannelModel> {
  const shown = shownBrokerUrl(url) ?? 'the broker URL';
  try {
    return await amqp.connect(url, {
      clientProperties: { connection_name: connectionName },
      timeout: 10_000,
      // Seeding publishes with confirms: without this each waits on a delayed ACK (Nagle).
      noDelay: true,
    });
  } catch (error) {
    throw new CliError(describeConnectError(error, shown, url));
  }
}

function describeConnectError(error: unknown, shown: string, url: string): string {
  const e = error as { code?: string; message?: string };
  const raw = String(e?.message ?? error);
  const code = e?.code;
  let message: string;
  if (code === 'ECONNREFUSED') {
    message = `cannot reach the broker at ${shown}: connection refused. Is RabbitMQ running and listening on that host and port?`;
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    message = `cannot reach the broker at ${shown}: host not found (${code}).`;
  } else if (code === 'ETIMEDOUT' || /timeout/i.test(raw)) {
    message = `cannot reach the broker at ${shown}: connection timed out.`;
  } else if (/ACCESS.REFUSED|403/.test(raw)) {
    message = `the broker at ${shown} refused the credentials (ACCESS_REFUSED): check the user name and password.`;
  } else if (/NOT.ALLOWED|530/.test(raw)) {
    message = `the broker at ${shown} refused access to the virtual host (NOT_ALLOWED): check the vhost in the URL and the user's permissions.`;
  } else {
    message = `cannot connect to the broker at ${shown}: ${raw}`;
  }
  return scrub(message, url);
}

/** `text` with the URL's credentials removed (amqplib sometimes repeats the URL in its messages). */
export function scrub(text: string, url: string): string {
  return redact(text, brokerSecrets(url));
}

/**
 * Checks that the queue exists (a passive declare) and returns its ready-message count. A missing queue
 * closes the channel, so this uses a throwaway channel.
 */
export async function checkQueue(
  connection: amqp.ChannelModel,
  queue: string,
): Promise<{ messageCount: number; consumerCount: number }> {
  const channel = await connection.createChannel();
  channel.on('error', () => {
    // reported through the rejected checkQueue below
  });
  try {
    const reply = await channel.checkQueue(queue);
    return { messageCount: reply.messageCount, consumerCount: reply.consumerCount };
  } catch (error) {
    if (/404|NOT_FOUND/.test(String((error as Error)?.message))) {
      throw new CliError(
        `queue "${queue}" does not exist on the broker. Start a worker first (it declares the queue with ` +
          'its quorum and dead-letter arguments), or check --queue.',
      );
    }
    throw error;
  } finally {
    try {
      await channel.close();
    } catch {
      // closed by the broker already
    }
  }
}
