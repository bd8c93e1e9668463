/**
 * The grammar Kubernetes accepts for a resource quantity (k8s.io/apimachinery resource.Quantity):
 * a non-negative decimal number followed by a binary-SI suffix (Ki…Ei), a decimal-SI suffix
 * (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3). Nothing else: no spaces, no "Gb".
 */
const QUANTITY = /^\+?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const MULTIPLIERS: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * A Kubernetes resource quantity (CPU, memory, storage).
 *
 * Prefer the typed factories (`Quantity.cpuMillis(500)`, `Quantity.gibibytes(4)`), which can
 * only produce valid quantities. `Quantity.of('4Gi')` takes a string as Kubernetes writes it and is
 * checked at synth time by the construct that uses it, so the error can name the prop.
 */
export class Quantity {
  /** A quantity as Kubernetes writes it, e.g. `"500m"`, `"4Gi"`, `"1.5"`. Validated at synth time. */
  static of(value: string): Quantity {
    return new Quantity(value);
  }

  /** CPU in thousandths of a core: `cpuMillis(500)` is half a core. */
  static cpuMillis(millis: number): Quantity {
    return Quantity.whole(millis, 'm', 'cpuMillis');
  }

  /** CPU in whole or fractional cores. */
  static cpus(cores: number): Quantity {
    if (!Number.isFinite(cores) || cores < 0) throw new Error(`Quantity.cpus(${cores}): cores must be ≥ 0`);
    return Number.isInteger(cores)
      ? new Quantity(String(cores))
      : Quantity.cpuMillis(Math.round(cores * 1000));
  }

  static mebibytes(amount: number): Quantity {
    return Quantity.whole(amount, 'Mi', 'mebibytes');
  }

  static gibibytes(amount: number): Quantity {
    return Quantity.whole(amount, 'Gi', 'gibibytes');
  }

  private static whole(amount: number, suffix: string, factory: string): Quantity {
    if (!Number.isInteger(amount) || amount < 0) {
      throw new Error(`Quantity.${factory}(${amount}): use a whole number ≥ 0`);
    }
    return new Quantity(`${amount}${suffix}`);
  }

  private constructor(readonly value: string) {}

  /** The amount in base units (cores, bytes), or undefined when the string is not a quantity. */
  toNumber(): number | undefined {
    const match = QUANTITY.exec(this.value);
    if (!match) return undefined;
    const [, number, , suffix = ''] = match;
    const multiplier = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : MULTIPLIERS[suffix];
    return Number(number) * multiplier;
  }

  toString(): string {
    return this.value;
  }
}
