/**
 * Anomaly score -> flag without flapping. The flag rises when the score has been >= threshold for
 * at least `minSamples` consecutive samples AND `minDurationMs`; it falls when the score has been
 * < threshold - hysteresis for as long. Every rise and fall is reported once, as an event.
 * Non-finite scores are ignored (they neither confirm nor cancel a pending change).
 */
export interface AnomalyOptions {
  threshold: number;
  hysteresis: number;
  minSamples: number;
  minDurationMs: number;
}

export interface AnomalyEvent {
  event: 'anomaly-start' | 'anomaly-end';
  anomaly: boolean;
  /** epoch ms at which the new state was first seen (the start of the confirming run). */
  since: number;
  /** epoch ms at which the change was confirmed. */
  time: number;
  score: number;
}

export class AnomalyTracker {
  private state = false;
  private pendingSince: number | undefined;
  private pendingCount = 0;

  constructor(private readonly options: AnomalyOptions) {}

  get anomaly(): boolean {
    return this.state;
  }

  /** Feeds one score seen at `time` (epoch ms); returns the event when the flag changes. */
  update(score: number, time: number): AnomalyEvent | undefined {
    if (!Number.isFinite(score)) return undefined;
    const { threshold, hysteresis, minSamples, minDurationMs } = this.options;
    const wantsChange = this.state ? score < threshold - hysteresis : score >= threshold;
    if (!wantsChange) {
      this.pendingSince = undefined;
      this.pendingCount = 0;
      return undefined;
    }
    if (this.pendingSince === undefined) this.pendingSince = time;
    this.pendingCount++;
    if (this.pendingCount < Math.max(1, minSamples) || time - this.pendingSince < minDurationMs) return undefined;
    this.state = !this.state;
    const since = this.pendingSince;
    this.pendingSince = undefined;
    this.pendingCount = 0;
    return { event: this.state ? 'anomaly-start' : 'anomaly-end', anomaly: this.state, since, time, score };
  }
}

/** Trackers per key (e.g. per rendered topic, i.e. per device), capped so memory stays bounded. */
export class AnomalyTrackers {
  private readonly trackers = new Map<string, AnomalyTracker>();

  constructor(
    private readonly options: AnomalyOptions,
    private readonly maxKeys = 1000,
  ) {}

  get(key: string): AnomalyTracker {
    let t = this.trackers.get(key);
    if (t) {
      // Re-insert so Map order is least-recently-used first.
      this.trackers.delete(key);
    } else {
      t = new AnomalyTracker(this.options);
      if (this.trackers.size >= this.maxKeys) {
        const oldest = this.trackers.keys().next().value;
        if (oldest !== undefined) this.trackers.delete(oldest);
      }
    }
    this.trackers.set(key, t);
    return t;
  }

  get size(): number {
    return this.trackers.size;
  }
}
