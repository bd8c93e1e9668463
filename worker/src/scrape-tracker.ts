/**
 * Whether Prometheus has read the worker's metrics since they last changed, and the wait for that
 * read before the process exits. A counter incremented after the last scrape of a pod that then
 * exits never reaches Prometheus: the last task of a batch pod, the dead letter of a pod that stops
 * right after. So the worker, once stopped, waits until one scrape has carried its last change,
 * bounded by AGENT_SCRAPE_WAIT_SECONDS and, after SIGTERM, by the shutdown deadline.
 *
 * @module
 */
import type { Logger } from './logger';

/**
 * The header Prometheus sends with every scrape (and vmagent, and the agents built on Prometheus's
 * scrape code). Only a request carrying it counts as a scrape: `curl`, `kubectl port-forward` or
 * `agent-fleet verify` reading `/metrics` store nothing, and must not end the wait.
 */
export const SCRAPE_HEADER = 'x-prometheus-scrape-timeout-seconds';

/** How a wait for a last scrape ended. */
export type ScrapeWaitOutcome =
  /** Every change had already been scraped (or nothing ever changed): no wait. */
  | 'up-to-date'
  /** A scrape carried the last change. */
  | 'scraped'
  /** The bound passed first: the changes since the last scrape are lost to Prometheus. */
  | 'deadline';

/** What bounds a wait for a last scrape, in epoch milliseconds. */
export interface ScrapeWaitBound {
  /** AGENT_SCRAPE_WAIT_SECONDS in milliseconds. */
  readonly waitMs: number;
  /** When the last scrape finished; undefined when there was none. */
  readonly lastScrapeAt: number | undefined;
  /** When the metrics server began listening. */
  readonly listeningSince: number;
  /** A hard end (the shutdown deadline after SIGTERM); undefined when there is none. */
  readonly notAfter: number | undefined;
}

/**
 * When a wait for a last scrape gives up: `waitMs` after the last scrape, or after the server began
 * listening when nothing scraped it yet, and never after `notAfter`. A scraped target is scraped
 * again within one interval, a new one within discovery plus one interval, and AGENT_SCRAPE_WAIT_SECONDS
 * covers both (see `scrapeWaitSecondsFor`): a worker nobody scraped for that long is not scraped,
 * and exits without waiting. Pure.
 */
export function scrapeWaitEnd(bound: ScrapeWaitBound): number {
  const end = (bound.lastScrapeAt ?? bound.listeningSince) + bound.waitMs;
  return bound.notAfter === undefined ? end : Math.min(end, bound.notAfter);
}

/**
 * Counts metric changes and the scrapes that carried them. The metrics call `changed()` on every
 * update they make; the metrics server calls `scrapeStarted()` when a scrape asks for the text and
 * the function it returns once the response was handed to the socket. A scrape carries the changes
 * made before its text was collected.
 */
export class ScrapeTracker {
  private changes = 0;
  private scrapedChanges = 0;
  private lastScrapeAt: number | undefined;
  private listeningSince: number;
  private notAfter: number | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly clock: () => number = Date.now) {
    this.listeningSince = clock();
  }

  /** A metric changed. */
  changed(): void {
    this.changes += 1;
  }

  /** The metrics server began listening: a target Prometheus can discover from now on. */
  listening(): void {
    this.listeningSince = this.clock();
  }

  /** A scrape is collecting the text; call the result once the response was sent. */
  scrapeStarted(): () => void {
    const carried = this.changes;
    return () => {
      this.scrapedChanges = Math.max(this.scrapedChanges, carried);
      this.lastScrapeAt = this.clock();
      this.notify();
    };
  }

  /** Some change has not been carried by a scrape yet. */
  get unscraped(): boolean {
    return this.changes > this.scrapedChanges;
  }

  /** No wait, now or later, lasts past `at` (epoch ms): the shutdown deadline after a signal. */
  limit(at: number): void {
    this.notAfter = this.notAfter === undefined ? at : Math.min(this.notAfter, at);
    this.notify();
  }

  /** Resolves once a scrape carried the last change, or at the bound (see {@link scrapeWaitEnd}). */
  waitForScrape(waitMs: number): Promise<ScrapeWaitOutcome> {
    if (!this.unscraped) {
      return Promise.resolve('up-to-date');
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (outcome: ScrapeWaitOutcome) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(outcome);
      };
      // Runs at every scrape and limit: both can end the wait or move its end.
      const check = () => {
        if (!this.unscraped) {
          settle('scraped');
          return;
        }
        const end = scrapeWaitEnd({
          waitMs,
          lastScrapeAt: this.lastScrapeAt,
          listeningSince: this.listeningSince,
          notAfter: this.notAfter,
        });
        clearTimeout(timer);
        const left = end - this.clock();
        if (left <= 0) {
          settle('deadline');
        } else {
          timer = setTimeout(check, left);
        }
      };
      this.listeners.add(check);
      check();
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) {
      listener();
    }
  }
}

/**
 * Keeps the metrics server up until a scrape carried the last metric change, at most
 * `scrapeWaitSeconds` after the last scrape (or the server's start), and never past the limit a
 * signal set. Logs what it waited for and how it ended.
 */
export async function waitForLastScrape(
  scrapes: ScrapeTracker,
  scrapeWaitSeconds: number,
  log: Logger,
): Promise<void> {
  if (scrapeWaitSeconds <= 0 || !scrapes.unscraped) {
    return;
  }
  const started = Date.now();
  log.info({ scrapeWaitSeconds }, 'waiting for Prometheus to read the last metric changes');
  const outcome = await scrapes.waitForScrape(scrapeWaitSeconds * 1000);
  const waitedMs = Date.now() - started;
  if (outcome === 'deadline') {
    log.warn(
      { waitedMs, scrapeWaitSeconds },
      'no scrape of /metrics before the deadline; the metric changes since the last scrape are lost to Prometheus',
    );
  } else {
    log.info({ waitedMs }, 'Prometheus read the last metric changes');
  }
}
