#pragma once
// Starts the application processors (INIT, STARTUP, STARTUP to all), waits for them to come
// online, then drops the low identity map they needed.
void smp_start();
