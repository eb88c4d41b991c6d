/* Stand-in for the Arduino-ESP32 core, enough to compile-check the example
 * sketch (clients/c/examples) on Linux: declarations only. */
#ifndef AVI_STUB_ARDUINO_H
#define AVI_STUB_ARDUINO_H
#include <stddef.h>
#include <stdint.h>
#define HIGH 1
#define LOW 0
#define INPUT_PULLUP 5
struct StubSerial {
  void begin(unsigned long baud);
  int printf(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  size_t println(const char *s);
};
extern StubSerial Serial;
void delay(uint32_t ms);
uint32_t millis(void);
void pinMode(uint8_t pin, uint8_t mode);
int digitalRead(uint8_t pin);
float temperatureRead(void);
#endif
