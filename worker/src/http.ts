import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Http } from '@agent-fleet/contract';
import type { Registry } from 'prom-client';
import { SCRAPE_HEADER, type ScrapeTracker } from './scrape-tracker';

/**
 * Serves `/metrics`, `/healthz` (process alive) and `/readyz` (joined the task queue, not stopping)
 * on one port. A read of `/metrics` by Prometheus (its scrape header) is reported to `scrapes` once
 * the response was handed to the socket.
 */
export class HealthServer {
  private readonly server: http.Server;

  constructor(
    private readonly registry: Registry,
    private readonly isReady: () => boolean,
    private readonly scrapes?: ScrapeTracker,
  ) {
    this.server = http.createServer((req, res) => {
      void this.respond(req, res);
    });
    this.server.keepAliveTimeout = 1000;
  }

  private async respond(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    try {
      if (url === Http.metricsPath) {
        const scraped = req.headers[SCRAPE_HEADER] === undefined ? undefined : this.scrapes?.scrapeStarted();
        const body = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(body, scraped);
      } else if (url === Http.healthzPath) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
      } else if (url === Http.readyzPath) {
        const ready = this.isReady();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ready ? 'ready\n' : 'not ready\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${String(error)}\n`);
    }
  }

  /** Listens on all interfaces (the kubelet and Prometheus reach the pod IP); returns the bound port. */
  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen(port, () => {
        this.server.off('error', onError);
        this.scrapes?.listening();
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
