/* Stand-in for ESP-IDF's esp_random.h (declarations only). */
#ifndef AVI_STUB_ESP_RANDOM_H
#define AVI_STUB_ESP_RANDOM_H
#include <stddef.h>
#include <stdint.h>
void esp_fill_random(void *buf, size_t len);
uint32_t esp_random(void);
#endif
