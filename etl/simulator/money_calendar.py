"""The simulated practice's calendar: recalls, referrals, provider schedules and blockouts."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from etl.simulator.money_rows import (
    NO_DATE,
    SIX_MONTHS,
    Row,
    RowMaker,
)


class Calendar(RowMaker):
    """Recalls and referrals per patient; schedules for the whole office."""

    def recalls(self, patient: Row) -> None:
        """Recalls of each type the patient has: due dates around today, some scheduled."""
        if patient["patstatus"] not in (0, 2) and not self.chance(0.3):
            return
        for kind, p in ((1, 0.95), (2, 0.15), (3, 0.1)):
            if not self.chance(p):
                continue
            due = self.today + timedelta(days=self.rng.randint(-240, 200))
            due = NO_DATE if self.chance(0.03) else due
            booked = due != NO_DATE and self.chance(0.5 if due >= self.today else 0.15)
            scheduled = self.weekday(max(due, self.today)) if booked else NO_DATE
            far = self.today + timedelta(days=self.rng.randint(1, 90))
            self.add(
                "recall",
                "recallnum",
                patnum=patient["patnum"],
                datedue=due,
                dateduecalc=due,
                dateprevious=NO_DATE,
                recallinterval=SIX_MONTHS,
                recallstatus=0,
                isdisabled=int(self.chance(0.04)),
                recalltypenum=kind,
                disableuntilbalance=self.rng.choice((0.0,) * 12 + (100.0, 500.0)),
                disableuntildate=self.rng.choice((NO_DATE,) * 15 + (self.today, far)),
                datescheduled=scheduled,
                priority=0,
            )

    def referrals(self, patient: Row) -> None:
        """Referral attachments, "referred from" mostly, in Open Dental's item order."""
        for order in range(self.rng.choices((0, 1, 2), (65, 28, 7))[0]):
            self.add(
                "refattach",
                "refattachnum",
                referralnum=self.rng.randint(1, 9),
                patnum=patient["patnum"],
                itemorder=order,
                refdate=NO_DATE,
                reftype=self.rng.choices((1, 0, 2), (80, 15, 5))[0],
            )

    def schedules(self) -> None:
        """Provider schedules (some blocks overlap), blockouts, practice notes, holidays."""
        hours = {
            1: [(8, 12), (13, 17)],
            2: [(8, 14), (12, 16)],
            3: [(7, 15)],
            4: [(9, 12), (10, 11)],
        }
        day = self.today - timedelta(days=60)
        while day <= self.today + timedelta(days=30):
            if day.weekday() < 5:
                for prov, blocks in hours.items():
                    if prov == 4 and day.weekday() in (1, 3):
                        continue
                    for start, stop in blocks:
                        self.schedule(day, 1, prov, start, stop, 1 if self.chance(0.01) else 0)
                self.schedule(day, 2, 0, 12, 13, 0, blockouttype=25)
                if self.chance(0.05):
                    self.schedule(day, 0, 0, 0, 0, 2)
            day += timedelta(days=1)

    def schedule(
        self, day: date, kind: int, prov: int, start: int, stop: int, status: int, **values: Any
    ) -> None:
        """A schedule row; provider schedules get their operatory."""
        fields = {"blockouttype": 0, "employeenum": 0, "clinicnum": 0, "note": "", **values}
        row = self.add(
            "schedule",
            "schedulenum",
            scheddate=day,
            starttime=time(start),
            stoptime=time(stop),
            schedtype=kind,
            provnum=prov,
            status=status,
            **fields,
        )
        if kind == 1:
            op = 1 if prov in (1, 3) else 3
            self.add("scheduleop", "scheduleopnum", schedulenum=row["schedulenum"], operatorynum=op)
