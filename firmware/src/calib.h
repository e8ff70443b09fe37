/* Output calibration: pulse limits, validation, mixing and the EEPROM image (with checksum). */
#ifndef FASTRLAP_CALIB_H
#define FASTRLAP_CALIB_H

#include "protocol.h"

#define PULSE_MIN_US 1000
#define PULSE_MAX_US 2000
/* The steering centre and the ESC neutral are what the car outputs whenever the host is not
 * driving (watchdog, FAILSAFE, boot), so they must be a real neutral: an ESC neutral of 1700 us
 * would hold ~40 % throttle exactly when the firmware means to stop the car. */
#define CENTRE_MIN_US 1450
#define CENTRE_MAX_US 1550

/* EEPROM image: magic, the CONFIG calibration body (BODY_CALIB bytes), CRC-16 of both (LE). */
#define CAL_MAGIC 0xC5
#define CAL_IMAGE_SIZE (1 + BODY_CALIB + 2)

void calib_defaults(calib_t *c);
/* CONFIG_OK if usable; CONFIG_INVALID unless every pulse lies in PULSE_MIN_US..PULSE_MAX_US with
 * min <= centre <= max, limit <= 1000 and only known flags; CONFIG_CENTRE_OUT_OF_BAND unless both
 * centres lie in CENTRE_MIN_US..CENTRE_MAX_US. */
uint8_t calib_check(const calib_t *c);
/* 1 if a and b are the same calibration (compared as their wire bytes). */
int calib_equal(const calib_t *a, const calib_t *b);
void calib_to_image(const calib_t *c, uint8_t img[CAL_IMAGE_SIZE]);
/* 1 and *c filled if the image has the magic, a matching checksum and a calibration that passes
 * calib_check (an image stored by older firmware with a neutral outside the band is refused). */
int calib_from_image(const uint8_t img[CAL_IMAGE_SIZE], calib_t *c);

/* Permille (-1000..1000, clamped) -> pulse width: 0 gives mid, +1000 gives max, -1000 min;
 * each side scales linearly, rounded to the nearest microsecond. */
uint16_t calib_mix(int16_t permille, uint16_t min_us, uint16_t mid_us, uint16_t max_us);

#endif
