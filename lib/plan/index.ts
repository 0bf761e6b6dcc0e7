export * from './plan.js';
export * from './step.js';
export * from './reachability.js';
export * from './grouping.js';
export * from './partition.js';
