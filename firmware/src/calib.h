/* Output calibration: pulse limits, validation, mixing and the EEPROM image (with checksum). */
#ifndef FASTRLAP_CALIB_H
#define FASTRLAP_CALIB_H

#include "protocol.h"

#define PULSE_MIN_US 1000
#define PULSE_MAX_US 2000

/* EEPROM image: magic, the CONFIG calibration body (BODY_CALIB bytes), CRC-16 of both (LE). */
#define CAL_MAGIC 0xC5
#define CAL_IMAGE_SIZE (1 + BODY_CALIB + 2)

void calib_defaults(calib_t *c);
/* 1 if every pulse lies in PULSE_MIN_US..PULSE_MAX_US, min <= centre <= max, limit <= 1000. */
int calib_valid(const calib_t *c);
void calib_to_image(const calib_t *c, uint8_t img[CAL_IMAGE_SIZE]);
/* 1 and *c filled if the image has the magic, a matching checksum and a valid calibration. */
int calib_from_image(const uint8_t img[CAL_IMAGE_SIZE], calib_t *c);

/* Permille (-1000..1000, clamped) -> pulse width: 0 gives mid, +1000 gives max, -1000 min;
 * each side scales linearly, rounded to the nearest microsecond. */
uint16_t calib_mix(int16_t permille, uint16_t min_us, uint16_t mid_us, uint16_t max_us);

#endif
