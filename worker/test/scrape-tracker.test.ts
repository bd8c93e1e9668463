/**
 * The wait for a last scrape, without processes: which changes a scrape carried, when the wait
 * ends, and that it never outlasts its bound.
 */
import fc from 'fast-check';
import { ScrapeTracker, scrapeWaitEnd } from '../src/scrape-tracker';

/** A clock the test moves, for trackers whose waits run on jest's fake timers. */
function fakeClock() {
  jest.useFakeTimers({ now: 1_000_000 });
  return () => Date.now();
}

afterEach(() => {
  jest.useRealTimers();
});

describe('scrapeWaitEnd', () => {
  const time = fc.integer({ min: 0, max: 1e9 });

  test('waitMs after the last scrape, or after listening began when none, never past notAfter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_600_000 }),
        fc.option(time, { nil: undefined }),
        time,
        fc.option(time, { nil: undefined }),
        (waitMs, lastScrapeAt, listeningSince, notAfter) => {
          const end = scrapeWaitEnd({ waitMs, lastScrapeAt, listeningSince, notAfter });
          const unbounded = (lastScrapeAt ?? listeningSince) + waitMs;
          expect(end).toBe(notAfter === undefined ? unbounded : Math.min(unbounded, notAfter));
        },
      ),
    );
  });
});

describe('ScrapeTracker', () => {
  test('a scrape carries the changes made before it collected, not those made while it was sent', () => {
    const scrapes = new ScrapeTracker();
    expect(scrapes.unscraped).toBe(false);
    scrapes.changed();
    const sent = scrapes.scrapeStarted();
    scrapes.changed(); // after the text was collected
    sent();
    expect(scrapes.unscraped).toBe(true);
    scrapes.scrapeStarted()();
    expect(scrapes.unscraped).toBe(false);
  });

  test('unscraped holds exactly when a change came after the latest text any finished scrape collected (model)', () => {
    type Op = { kind: 'change' } | { kind: 'start' } | { kind: 'finish'; which: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant<Op>({ kind: 'change' }),
      fc.constant<Op>({ kind: 'start' }),
      fc.nat({ max: 20 }).map((which): Op => ({ kind: 'finish', which })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const scrapes = new ScrapeTracker();
        const open: { send: () => void; carried: number }[] = [];
        let changes = 0;
        let carried = 0;
        for (const o of ops) {
          if (o.kind === 'change') {
            scrapes.changed();
            changes += 1;
          } else if (o.kind === 'start') {
            open.push({ send: scrapes.scrapeStarted(), carried: changes });
          } else if (open.length > 0) {
            const [done] = open.splice(o.which % open.length, 1);
            done.send();
            carried = Math.max(carried, done.carried);
          }
          expect(scrapes.unscraped).toBe(changes > carried);
        }
      }),
    );
  });

  test('nothing changed, or everything scraped: no wait', async () => {
    const scrapes = new ScrapeTracker();
    await expect(scrapes.waitForScrape(60_000)).resolves.toBe('up-to-date');
    scrapes.changed();
    scrapes.scrapeStarted()();
    await expect(scrapes.waitForScrape(60_000)).resolves.toBe('up-to-date');
  });

  test('a scrape after the last change ends the wait', async () => {
    const scrapes = new ScrapeTracker(fakeClock());
    scrapes.changed();
    const wait = scrapes.waitForScrape(40_000);
    jest.advanceTimersByTime(5_000);
    scrapes.scrapeStarted()();
    await expect(wait).resolves.toBe('scraped');
  });

  test('never scraped: the wait ends waitMs after the server began listening', async () => {
    const clock = fakeClock();
    const scrapes = new ScrapeTracker(clock);
    scrapes.listening();
    const listenedAt = clock();
    jest.advanceTimersByTime(15_000);
    scrapes.changed();
    let outcome: string | undefined;
    void scrapes.waitForScrape(40_000).then((o) => {
      outcome = o;
    });
    await jest.advanceTimersByTimeAsync(40_000 - 15_000 - 1);
    expect(outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(outcome).toBe('deadline');
    expect(clock() - listenedAt).toBe(40_000);
  });

  test('a scrape that carried only older changes moves the end to waitMs after it', async () => {
    const clock = fakeClock();
    const scrapes = new ScrapeTracker(clock);
    scrapes.changed();
    const inFlight = scrapes.scrapeStarted();
    scrapes.changed();
    let outcome: string | undefined;
    void scrapes.waitForScrape(10_000).then((o) => {
      outcome = o;
    });
    await jest.advanceTimersByTimeAsync(8_000);
    inFlight(); // finishes at 8 s, carrying the first change only
    await jest.advanceTimersByTimeAsync(9_999);
    expect(outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(outcome).toBe('deadline');
  });

  test('a limit (the shutdown deadline after a signal) ends a running wait, and every later one, by then', async () => {
    const clock = fakeClock();
    const scrapes = new ScrapeTracker(clock);
    scrapes.changed();
    let outcome: string | undefined;
    void scrapes.waitForScrape(3_600_000).then((o) => {
      outcome = o;
    });
    await jest.advanceTimersByTimeAsync(1_000);
    scrapes.limit(clock() + 4_500);
    await jest.advanceTimersByTimeAsync(4_499);
    expect(outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(outcome).toBe('deadline');
    // A limit already past ends a new wait at once; a later limit never extends it.
    scrapes.limit(clock() + 60_000);
    await expect(scrapes.waitForScrape(3_600_000)).resolves.toBe('deadline');
  });

  test('whatever the scrapes and the limit, a wait ends by its bound and no sooner unless scraped', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60_000 }),
        fc.array(fc.integer({ min: 1, max: 30_000 }), { maxLength: 5 }),
        fc.option(fc.integer({ min: 1, max: 90_000 }), { nil: undefined }),
        async (waitMs, staleScrapeGaps, limitIn) => {
          const clock = fakeClock();
          const scrapes = new ScrapeTracker(clock);
          scrapes.listening();
          const start = clock();
          scrapes.changed();
          const inFlight = staleScrapeGaps.map(() => scrapes.scrapeStarted());
          scrapes.changed(); // none of those scrapes carries this one
          if (limitIn !== undefined) scrapes.limit(start + limitIn);
          let endedAt: number | undefined;
          void scrapes.waitForScrape(waitMs).then(() => {
            endedAt = clock();
          });
          // Stale scrapes finish at the given gaps; each moves the end to waitMs after it.
          let lastScrapeAt: number | undefined;
          for (const [i, gap] of staleScrapeGaps.entries()) {
            await jest.advanceTimersByTimeAsync(gap);
            if (endedAt !== undefined) break;
            inFlight[i]();
            lastScrapeAt = clock();
          }
          await jest.advanceTimersByTimeAsync(200_000);
          const bound = scrapeWaitEnd({
            waitMs,
            lastScrapeAt,
            listeningSince: start,
            notAfter: limitIn === undefined ? undefined : start + limitIn,
          });
          expect(endedAt).toBe(Math.max(bound, start));
          jest.useRealTimers();
        },
      ),
      { numRuns: 60 },
    );
  });
});
