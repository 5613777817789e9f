import type { Batch } from '@profcol/core';
export declare const METRICS: { name: string; unit: string; kind: 'gauge' | 'sum'; monotonic?: boolean }[];
export declare const RESOURCES: Record<string, string>[];
export declare function windowEnd(base: bigint, window: number): bigint;
export declare function baseNanos(minutesAgo?: number): bigint;
export declare function batchFor(base: bigint, w: number, resources?: Record<string, string>[]): Batch;
export declare function pointKey(name: string, service: string, timeNanos: bigint | string): string;
