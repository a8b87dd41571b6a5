/**
 * A simulated plant: a Modbus TCP master that writes the synthetic pump's readings (flow, pressure,
 * motor current, vibration, temperature as float32, word order CDAB like most PLCs) into holding
 * registers 0..9 of a Modbus server, as a PLC would. Reconnects when the server goes away.
 *
 *   tsx scripts/plant-simulator.ts [--host 127.0.0.1] [--port 5020] [--unit 1] [--rate 2] [--seed 1]
 *
 * The float encoding here is written independently of src/lib/modbus on purpose: the demo and the
 * end-to-end tests use this file as the "outside" master that our decoder must understand.
 */
import ModbusRTU from 'modbus-serial';
import { PumpPlant, type PlantReading } from './demo/pump';

export type WordOrder = 'ABCD' | 'CDAB';

/** float32 values -> 16-bit registers, two per value, in the given word order. */
export function floatsToRegisters(values: readonly number[], order: WordOrder = 'CDAB'): number[] {
  const view = new DataView(new ArrayBuffer(4));
  const registers: number[] = [];
  for (const v of values) {
    view.setFloat32(0, v, false);
    const high = view.getUint16(0, false);
    const low = view.getUint16(2, false);
    registers.push(...(order === 'ABCD' ? [high, low] : [low, high]));
  }
  return registers;
}

/** A Modbus TCP master connection that writes holding registers (FC16). */
export class ModbusMaster {
  private readonly client = new ModbusRTU();

  constructor(
    readonly host: string,
    readonly port: number,
    readonly unitId = 1,
    readonly timeoutMs = 2000,
  ) {}

  async connect(): Promise<void> {
    await this.client.connectTCP(this.host, { port: this.port });
    this.client.setID(this.unitId);
    this.client.setTimeout(this.timeoutMs);
  }

  get isOpen(): boolean {
    return this.client.isOpen;
  }

  /** FC16; resolves when the server has answered. */
  async write(address: number, registers: number[]): Promise<void> {
    await this.client.writeRegisters(address, registers);
  }

  /** FC3: holding registers. */
  async read(address: number, count: number): Promise<number[]> {
    return (await this.client.readHoldingRegisters(address, count)).data;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.client.isOpen) return resolve();
      this.client.close(() => resolve());
    });
  }
}

export interface SimulatorOptions {
  host?: string;
  port?: number;
  unitId?: number;
  /** Readings per second (default 2). */
  rate?: number;
  seed?: number;
  /** Seconds of simulated time per reading (default 1: faults develop over a minute or two). */
  stepSeconds?: number;
  onReading?: (reading: PlantReading) => void;
  onError?: (error: Error) => void;
}

/** Writes a PumpPlant reading to registers 0..9 every 1/rate seconds until stopped. */
export class PlantSimulator {
  private readonly plant: PumpPlant;
  private readonly master: ModbusMaster;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  written = 0;
  failed = 0;

  constructor(private readonly options: SimulatorOptions = {}) {
    this.plant = new PumpPlant({ seed: options.seed ?? 1, stepSeconds: options.stepSeconds ?? 1 });
    this.master = new ModbusMaster(options.host ?? '127.0.0.1', options.port ?? 5020, options.unitId ?? 1);
  }

  start(): void {
    const period = 1000 / Math.max(0.1, this.options.rate ?? 2);
    this.timer = setInterval(() => void this.tick(), period);
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return; // a slow or absent server: skip rather than pile up
    this.busy = true;
    try {
      if (!this.master.isOpen) await this.master.connect();
      const reading = this.plant.next();
      await this.master.write(0, floatsToRegisters(reading.vector, 'CDAB'));
      this.written++;
      this.options.onReading?.(reading);
    } catch (e) {
      this.failed++;
      this.options.onError?.(e instanceof Error ? e : new Error(String(e)));
      await this.master.close();
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.master.close();
  }
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const sim = new PlantSimulator({
    host: argValue(args, 'host') ?? '127.0.0.1',
    port: Number(argValue(args, 'port') ?? 5020),
    unitId: Number(argValue(args, 'unit') ?? 1),
    rate: Number(argValue(args, 'rate') ?? 2),
    seed: Number(argValue(args, 'seed') ?? 1),
    onReading: (r) => console.log(`t=${r.time}s ${r.condition.padEnd(12)} ${r.vector.map((v) => v.toFixed(2)).join(' ')}`),
    onError: (e) => console.error(`plant: ${e.message} (retrying)`),
  });
  sim.start();
  process.once('SIGINT', () => void sim.stop().then(() => process.exit(0)));
}
