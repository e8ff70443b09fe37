/* Runs the real firmware image under simavr with the car's electrical world around it.
 *
 *   fastrlap-fwsim FIRMWARE.elf [--link PATH] [--speed X] [--imu]
 *
 * UART0 is bridged to a pseudo-terminal that pyserial opens like a USB serial port; with --link
 * a symlink at PATH always points at the current one. The simulation is paced to the wall clock
 * (--speed 1, the default), because the firmware's watchdogs are timing behaviour under test.
 * --imu puts an MPU-6050 (I2C address 0x68) on the TWI bus; without it the bus is empty.
 *
 * stdin, one command per line:
 *   rc STEER_US THROTTLE_US MODE_US   RC receiver pulse widths at 50 Hz (0 = no pulses)
 *   wheel HZ                          wheel-encoder pulses per second (0 = stopped)
 *   drop MS                           unplug: close the port, make a new one MS later
 *   imu AX AY AZ GX GY GZ             raw readings the simulated MPU-6050 reports (--imu)
 *   imu off                           the MPU-6050 stops answering (a loose wire)
 *   hang                              make the firmware hang: interrupts off, spinning in a
 *                                     `rjmp .` (avr-libc's __stop_program), so only the
 *                                     hardware watchdog can bring it back
 *   quit
 * stdout, one event per line:
 *   ready PTY                         the port exists (again, after a drop)
 *   pulse steer|esc WIDTH_US T_US     one output pulse measured on D9 / D10, at sim time T_US
 *   hung T_US                         the `hang` command took effect at sim time T_US
 *   reset T_US                        the MCU restarted from address 0 (watchdog)
 *   lag MS T_US                       the harness was descheduled for MS; simulated time
 *                                     paused rather than racing to catch up
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "avr_twi.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_irq.h"

#define MCU "atmega328p"
#define FREQ 16000000ULL
#define CYC_PER_US (FREQ / 1000000ULL)
#define RC_PERIOD_US 20000
#define IO_EVERY_US 250 /* how often (sim time) the pty and stdin are polled */
#define MAX_LAG_US 5000 /* behind the wall clock by more than this: stop trying to catch up */

static avr_t *avr;
static double speed = 1.0;
static const char *link_path;

/* ---------------------------------------------------------------- pty bridge */
static int pty_master = -1, pty_slave = -1;
static char pty_name[128];
static uint8_t to_avr[4096];
static size_t to_avr_len, to_avr_pos;
static uint8_t from_avr[8192];
static size_t from_avr_len;
static int uart_xon = 1;
static uint64_t reopen_at_us; /* nonzero while unplugged */

static void fail(const char *what)
{
    fprintf(stderr, "fastrlap-fwsim: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void pty_open(void)
{
    struct termios tio;
    if (openpty(&pty_master, &pty_slave, pty_name, NULL, NULL) < 0)
        fail("openpty");
    /* Raw bytes both ways; we keep our own slave fd open so that the master never sees a
     * hang-up while the host has the port closed (bytes sent meanwhile are dropped). */
    tcgetattr(pty_slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(pty_slave, TCSANOW, &tio);
    fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);
    if (link_path) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", link_path);
        unlink(tmp);
        if (symlink(pty_name, tmp) < 0 || rename(tmp, link_path) < 0)
            fail("symlink");
    }
    to_avr_len = to_avr_pos = from_avr_len = 0;
    printf("ready %s\n", pty_name);
}

static void pty_close(void)
{
    if (link_path)
        unlink(link_path);
    close(pty_master);
    close(pty_slave);
    pty_master = pty_slave = -1;
}

static void uart_out_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (pty_master >= 0 && from_avr_len < sizeof from_avr)
        from_avr[from_avr_len++] = (uint8_t)value;
}

static void feed_uart(void)
{
    avr_irq_t *in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    while (uart_xon && to_avr_pos < to_avr_len)
        avr_raise_irq(in, to_avr[to_avr_pos++]);
}

static void uart_xon_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)value, (void)param;
    uart_xon = 1;
    feed_uart();
}

static void uart_xoff_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)value, (void)param;
    uart_xon = 0;
}

/* ---------------------------------------------------------------- RC receiver and encoder */
typedef struct {
    int pin;           /* port D bit */
    int width_us;      /* 0 = silent */
    int high;
} rc_channel_t;
static rc_channel_t rc[3] = {{4, 0, 0}, {5, 0, 0}, {6, 0, 0}};
static uint32_t wheel_hz;
static int wheel_level = 1;

static void pin_d(int bit, int level)
{
    avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), bit), level);
}

static avr_cycle_count_t rc_tick(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)a;
    rc_channel_t *ch = param;
    if (!ch->high && ch->width_us > 0) {
        ch->high = 1;
        pin_d(ch->pin, 1);
        return when + (avr_cycle_count_t)ch->width_us * CYC_PER_US;
    }
    if (ch->high) {
        ch->high = 0;
        pin_d(ch->pin, 0);
        return when + (avr_cycle_count_t)(RC_PERIOD_US - ch->width_us) * CYC_PER_US;
    }
    return when + (avr_cycle_count_t)RC_PERIOD_US * CYC_PER_US;
}

static avr_cycle_count_t wheel_tick(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)a, (void)param;
    if (wheel_hz) {
        wheel_level = !wheel_level;
        pin_d(2, wheel_level);
        return when + FREQ / (2ULL * wheel_hz);
    }
    return when + FREQ / 100; /* idle: look again in 10 ms */
}

/* ---------------------------------------------------------------- MPU-6050 on the I2C bus
 * A register file behind address 0x68: the first byte written after START selects the
 * register, further writes store, reads return successive registers. Enough for the
 * firmware's WHO_AM_I probe, configuration writes and 14-byte burst reads from 0x3B. */
#define MPU_ADDR 0x68
static int imu_enabled;
static uint8_t mpu_regs[128];
static uint8_t mpu_selected, mpu_reg, mpu_index;

static void mpu_set_reading(const int v[6])
{
    static const uint8_t reg[6] = {0x3B, 0x3D, 0x3F, 0x43, 0x45, 0x47}; /* big-endian pairs */
    for (int i = 0; i < 6; i++) {
        mpu_regs[reg[i]] = (uint8_t)((uint16_t)v[i] >> 8);
        mpu_regs[reg[i] + 1] = (uint8_t)v[i];
    }
}

static void mpu_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)param;
    avr_twi_msg_irq_t v;
    avr_irq_t *to_avr = avr_io_getirq(avr, AVR_IOCTL_TWI_GETIRQ(0), TWI_IRQ_INPUT);
    v.u.v = value;
    if (!imu_enabled) {
        mpu_selected = 0;
        return; /* unplugged: nobody acknowledges */
    }
    if (v.u.twi.msg & TWI_COND_STOP)
        mpu_selected = 0;
    if (v.u.twi.msg & TWI_COND_START) {
        mpu_selected = (v.u.twi.addr >> 1) == MPU_ADDR;
        mpu_index = 0;
        if (mpu_selected)
            avr_raise_irq(to_avr, avr_twi_irq_msg(TWI_COND_ACK, v.u.twi.addr, 1));
    }
    if (!mpu_selected)
        return;
    if (v.u.twi.msg & TWI_COND_WRITE) {
        avr_raise_irq(to_avr, avr_twi_irq_msg(TWI_COND_ACK, v.u.twi.addr, 1));
        if (mpu_index++ == 0)
            mpu_reg = v.u.twi.data & 0x7F;
        else
            mpu_regs[mpu_reg++ & 0x7F] = v.u.twi.data;
    }
    if (v.u.twi.msg & TWI_COND_READ)
        avr_raise_irq(to_avr, avr_twi_irq_msg(TWI_COND_READ, v.u.twi.addr, mpu_regs[mpu_reg++ & 0x7F]));
}

/* TWINT model fix: on the chip, writing TWCR with TWINT set clears TWINT and starts the next
 * bus operation; the firmware then polls TWINT until the operation is done. simavr 1.6 marks the
 * TWI vector "sticky" and never clears the bit on such a write, so polling would return at
 * once. Clear it after simavr's own TWCR handler has started the operation; its delayed status
 * update sets TWINT again when the operation completes, as the hardware does. */
#define TWCR_ADDR 0xBC
#define TWINT_BIT 7

static void twcr_write_hook(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)addr, (void)param;
    if (v & (1u << TWINT_BIT))
        a->data[TWCR_ADDR] &= (uint8_t)~(1u << TWINT_BIT);
}

/* SLA+W status model fix: after the master sends SLA+W, the chip reports 0x18 (ACK) or 0x20
 * (NACK); simavr 1.6 reports the data-byte codes 0x28 / 0x30 instead, because the address byte
 * sits in TWDR too. The harness watches the bus and corrects the status of that one step. */
#define TWSR_ADDR 0xB9
static int twi_sla_w_pending;

static void twi_bus_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)param;
    avr_twi_msg_irq_t v;
    v.u.v = value;
    twi_sla_w_pending = (v.u.twi.msg & TWI_COND_START) && !(v.u.twi.addr & 1);
}

static void twi_status_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)param;
    if (!twi_sla_w_pending)
        return;
    twi_sla_w_pending = 0;
    uint8_t fixed = value == 0x28 ? 0x18 : value == 0x30 ? 0x20 : (uint8_t)value;
    avr->data[TWSR_ADDR] = (uint8_t)((avr->data[TWSR_ADDR] & 0x07) | fixed);
}

/* ---------------------------------------------------------------- Timer1 model fix
 * simavr 1.6 (Debian bookworm) maps Timer1 mode 14 (fast PWM, TOP = ICR1) onto its
 * phase-correct model, in which a write to OCR1A/OCR1B never reaches the compare unit: the
 * pins would keep the width set at start-up. The chip latches OCR1x at BOTTOM, so the harness
 * does the same: after the firmware writes OCR1AL/OCR1BL, at the start of the next period it
 * makes simavr reload its compare settings by restarting Timer1's clock through TCCR1B's own
 * write handler (the register ends up unchanged). Firmware code is not involved. */
#define OCR1AL_ADDR 0x88
#define OCR1BL_ADDR 0x8A
#define TCCR1B_ADDR 0x81
static int ocr_dirty;

static void ocr_write_hook(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)a, (void)addr, (void)v, (void)param;
    ocr_dirty = 1;
}

static avr_cycle_count_t reload_timer1(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)when, (void)param;
    uint8_t v = a->data[TCCR1B_ADDR];
    avr_io_addr_t io = AVR_DATA_TO_IO(TCCR1B_ADDR);
    if (a->io[io].w.c && (v & 0x07)) {
        a->io[io].w.c(a, TCCR1B_ADDR, (uint8_t)(v & ~0x07), a->io[io].w.param);
        a->io[io].w.c(a, TCCR1B_ADDR, v, a->io[io].w.param);
    }
    return 0;
}

/* ---------------------------------------------------------------- output pulse measurement */
typedef struct {
    const char *name;
    avr_cycle_count_t rise;
    int high;
} out_pin_t;
static out_pin_t outs[2] = {{"steer", 0, 0}, {"esc", 0, 0}};

static void out_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    out_pin_t *o = param;
    if (value && !o->high) {
        o->rise = avr->cycle;
        if (ocr_dirty) { /* a period starts: latch the new compare values (see above) */
            ocr_dirty = 0;
            avr_cycle_timer_register(avr, 1, reload_timer1, NULL);
        }
    } else if (!value && o->high) {
        double width = (double)(avr->cycle - o->rise) / CYC_PER_US;
        printf("pulse %s %.2f %llu\n", o->name, width, (unsigned long long)(avr->cycle / CYC_PER_US));
    }
    o->high = value != 0;
}

/* ---------------------------------------------------------------- control */
static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void hang(void)
{
    /* find an `rjmp .` (opcode 0xCFFF, little-endian FF CF) in the image */
    for (uint32_t a = 0; a + 1 < avr->flashend; a += 2) {
        if (avr->flash[a] == 0xFF && avr->flash[a + 1] == 0xCF) {
            avr->sreg[S_I] = 0;
            avr->data[R_SREG] &= (uint8_t)~(1u << S_I);
            avr->pc = a;
            avr->state = cpu_Running;
            printf("hung %llu\n", (unsigned long long)(avr->cycle / CYC_PER_US));
            return;
        }
    }
    fprintf(stderr, "fastrlap-fwsim: no `rjmp .` in the firmware image to hang in\n");
}

static char line[256];
static size_t line_len;
static int quit;

static void command(char *cmd)
{
    int a, b, c;
    if (sscanf(cmd, "rc %d %d %d", &a, &b, &c) == 3) {
        rc[0].width_us = a;
        rc[1].width_us = b;
        rc[2].width_us = c;
    } else if (sscanf(cmd, "wheel %d", &a) == 1 && a >= 0) {
        wheel_hz = (uint32_t)a;
    } else if (sscanf(cmd, "drop %d", &a) == 1 && a >= 0) {
        if (pty_master >= 0)
            pty_close();
        reopen_at_us = avr->cycle / CYC_PER_US + (uint64_t)(a > 0 ? a : 1) * 1000ULL;
    } else if (!strncmp(cmd, "imu off", 7)) {
        imu_enabled = 0;
    } else if (!strncmp(cmd, "imu ", 4)) {
        int v[6];
        if (sscanf(cmd, "imu %d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6)
            mpu_set_reading(v);
    } else if (!strncmp(cmd, "hang", 4)) {
        hang();
    } else if (!strncmp(cmd, "quit", 4)) {
        quit = 1;
    } else {
        fprintf(stderr, "fastrlap-fwsim: unknown command: %s\n", cmd);
    }
}

static void poll_io(void)
{
    struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = pty_master, .events = POLLIN}};
    if (poll(fds, pty_master >= 0 ? 2 : 1, 0) > 0) {
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            char buf[256];
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0)
                quit = 1; /* the test runner went away */
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == '\n' || line_len == sizeof line - 1) {
                    line[line_len] = 0;
                    command(line);
                    line_len = 0;
                } else {
                    line[line_len++] = buf[i];
                }
            }
        }
        if (pty_master >= 0 && (fds[1].revents & POLLIN) && to_avr_pos == to_avr_len) {
            ssize_t n = read(pty_master, to_avr, sizeof to_avr);
            if (n > 0) {
                to_avr_len = (size_t)n;
                to_avr_pos = 0;
            }
        }
    }
    feed_uart();
    if (pty_master >= 0 && from_avr_len) {
        ssize_t n = write(pty_master, from_avr, from_avr_len);
        /* a full pty (nobody reading) drops the bytes, as a USB adapter with no host would */
        (void)n;
        from_avr_len = 0;
    }
    if (reopen_at_us && avr->cycle / CYC_PER_US >= reopen_at_us) {
        reopen_at_us = 0;
        pty_open();
    }
}

static void quiet_logger(avr_t *a, const int level, const char *fmt, va_list ap)
{
    char msg[512];
    (void)a;
    if (level > LOG_WARNING)
        return;
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* The firmware sets OCRnx before starting a timer's clock (as the datasheet advises);
     * simavr 1.6 warns about every such write. Not a fault: keep stderr for real ones. */
    if (strstr(msg, "avr_timer_write_ocr") && strstr(msg, "UNSUPPORTED"))
        return;
    fputs(msg, stderr);
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long) { (void)a, (void)how_long; }

/* While the MCU sleeps, simavr jumps straight to the next timer event, and the pty is only read
 * between jumps: host bytes would wait for the next servo frame (up to 20 ms) instead of waking
 * the chip at once as its UART interrupt does. This empty event every IO_EVERY_US bounds the
 * jump, so bytes arrive within 250 us of sim time, as the pty is polled anyway. */
static avr_cycle_count_t io_tick(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)a, (void)param;
    return when + (avr_cycle_count_t)IO_EVERY_US * CYC_PER_US;
}

int main(int argc, char **argv)
{
    const char *elf = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc)
            link_path = argv[++i];
        else if (!strcmp(argv[i], "--imu"))
            imu_enabled = 1;
        else if (!strcmp(argv[i], "--speed") && i + 1 < argc)
            speed = atof(argv[++i]);
        else
            elf = argv[i];
    }
    if (!elf || speed <= 0) {
        fprintf(stderr, "usage: %s FIRMWARE.elf [--link PATH] [--speed X] [--imu]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    avr_global_logger_set(quiet_logger);

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(elf, &fw) != 0) {
        fprintf(stderr, "fastrlap-fwsim: cannot read %s\n", elf);
        return 1;
    }
    strcpy(fw.mmcu, MCU);
    fw.frequency = FREQ;
    avr = avr_make_mcu_by_name(MCU);
    if (!avr || avr_init(avr) != 0) {
        fprintf(stderr, "fastrlap-fwsim: simavr has no %s\n", MCU);
        return 1;
    }
    avr_load_firmware(avr, &fw);
    avr->frequency = FREQ;
    avr->log = LOG_WARNING;
    avr->sleep = no_sleep; /* pacing below keeps time; simavr's own sleep would double it */

    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_out_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 1), out_hook, &outs[0]);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 2), out_hook, &outs[1]);

    if (imu_enabled) {
        const int at_rest[6] = {0, 0, 8192, 0, 0, 0}; /* level and still: +1 g on z at +-4 g */
        mpu_regs[0x75] = MPU_ADDR;                   /* WHO_AM_I */
        mpu_set_reading(at_rest);
        avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_TWI_GETIRQ(0), TWI_IRQ_OUTPUT), mpu_hook, NULL);
    }
    avr_register_io_write(avr, TWCR_ADDR, twcr_write_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_TWI_GETIRQ(0), TWI_IRQ_OUTPUT), twi_bus_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_TWI_GETIRQ(0), TWI_IRQ_STATUS), twi_status_hook, NULL);
    avr_register_io_write(avr, OCR1AL_ADDR, ocr_write_hook, NULL);
    avr_register_io_write(avr, OCR1BL_ADDR, ocr_write_hook, NULL);

    pin_d(2, 1); /* encoder idle high (pull-up) */
    for (int i = 0; i < 3; i++) {
        pin_d(rc[i].pin, 0);
        /* receivers send channels one after another */
        avr_cycle_timer_register(avr, (avr_cycle_count_t)(1000 + 2500 * i) * CYC_PER_US, rc_tick, &rc[i]);
    }
    avr_cycle_timer_register(avr, FREQ / 100, wheel_tick, NULL);
    avr_cycle_timer_register(avr, (avr_cycle_count_t)IO_EVERY_US * CYC_PER_US, io_tick, NULL);
    pty_open();

    uint64_t start = wall_us(), next_io = 0;
    int resets_seen = 0;
    while (!quit) {
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "fastrlap-fwsim: firmware stopped (state %d)\n", state);
            break;
        }
        uint64_t sim_us = avr->cycle / CYC_PER_US;
        if (avr->pc == 0 && avr->cycle > 16) {
            if (!resets_seen++)
                printf("reset %llu\n", (unsigned long long)sim_us);
        } else {
            resets_seen = 0;
        }
        if (sim_us < next_io)
            continue;
        next_io = sim_us + IO_EVERY_US;
        poll_io();
        uint64_t target = start + (uint64_t)((double)sim_us / speed);
        uint64_t now = wall_us();
        if (target > now + 200) {
            usleep((useconds_t)(target - now));
        } else if (now > target + MAX_LAG_US) {
            /* The harness was descheduled. Racing to catch up would squeeze the host's bytes,
             * which arrived spread over that wall time, into a moment of simulated time (and
             * trip the firmware's command watchdog for nothing). Pause the world instead. */
            start += now - target - MAX_LAG_US;
            if (now - target > 20000)
                printf("lag %llu %llu\n", (unsigned long long)((now - target) / 1000),
                       (unsigned long long)sim_us);
        }
    }
    if (link_path)
        unlink(link_path);
    return 0;
}
