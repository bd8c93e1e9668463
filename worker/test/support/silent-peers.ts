/**
 * Peers that stop talking, for tests of the broker deadlines: a server that accepts TCP and never
 * writes a byte, one that starts an AMQP frame and then trickles a byte now and then (a socket
 * idle timeout never fires), and a proxy to the real broker that can go silent mid-connection.
 */
import * as net from 'node:net';

export interface SilentPeer {
  readonly port: number;
  /** Sockets accepted so far, and how many of them the client has closed. */
  readonly accepted: number;
  readonly closedByClient: number;
  close(): Promise<void>;
}

function listen(onSocket: (socket: net.Socket) => void): Promise<SilentPeer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let closedByClient = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closedByClient++;
      sockets.delete(socket);
    });
    // Reads (and ignores) what arrives, so the client's close is noticed.
    socket.resume();
    onSocket(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        get accepted() {
          return accepted;
        },
        get closedByClient() {
          return closedByClient;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Accepts connections and never writes. */
export function silentServer(): Promise<SilentPeer> {
  return listen(() => undefined);
}

/**
 * Answers the protocol header with the start of a large method frame, then one more byte every
 * `intervalMs`: the connection is never idle, and the frame never complete.
 */
export function tricklingServer(intervalMs = 100): Promise<SilentPeer> {
  return listen((socket) => {
    socket.once('data', () => {
      // Frame type 1 (method), channel 0, payload size 65536: amqplib waits for all of it.
      socket.write(Buffer.from([1, 0, 0, 0, 1, 0, 0]));
      const timer = setInterval(() => socket.write(Buffer.from([0])), intervalMs);
      socket.on('close', () => clearInterval(timer));
    });
  });
}

/** A TCP proxy to `target` that forwards both ways, except between `freeze()` and `thaw()`: then it drops everything, silently. */
export interface FreezableProxy {
  readonly port: number;
  /** From now on nothing passes, in either direction; no socket is closed. */
  freeze(): void;
  /** Forwards again (what was dropped meanwhile stays lost). */
  thaw(): void;
  close(): Promise<void>;
}

export function freezableProxy(target: { host: string; port: number }): Promise<FreezableProxy> {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!frozen) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        freeze: () => {
          frozen = true;
        },
        thaw: () => {
          frozen = false;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** `url` with its host and port replaced by 127.0.0.1:`port` (credentials and vhost kept). */
export function viaPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}
