export * from './plan.js';
export * from './step.js';
export * from './reachability.js';
