"""Build the two sample PDFs of the Lumenkeel knowledge base (deterministic).

    .venv/bin/python scripts/build_sample_pdfs.py

The text lives in this file, page by page, so every fact has a known page. The output goes to
workbench/sample/data/kb/. Requires fpdf2 (core Helvetica font, so the text is kept latin-1).
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from fpdf import FPDF

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere
from workbench.sample import kb_dir  # noqa: E402

KB_DIR = kb_dir()

# A page is a list of blocks: ("h1" | "h2" | "p" | "li" | "kv", text). "kv" is "Label: value".
Page = list[tuple[str, str]]

DATASHEET: list[Page] = [
    [  # page 1: overview, variants, physical data
        ("h1", "TideLog T3 Water Quality Buoy - Product Datasheet"),
        ("p", "Lumenkeel Systems, Inc. | Datasheet DS-T3, edition 3 (January 2025)"),
        ("h2", "Overview"),
        ("p", "The TideLog T3 is a self-contained water quality buoy for harbours, lakes, rivers and "
              "aquaculture sites. It measures dissolved oxygen, pH, temperature and turbidity, sends the "
              "readings to Keelhouse Cloud over LoRaWAN or LTE-M, and runs for more than a year on a "
              "single battery pack. The T3 replaces the TideLog T2, which is no longer sold."),
        ("h2", "Variants and part numbers"),
        ("li", "TL-T3-220 - TideLog T3 Standard, for fresh and brackish water."),
        ("li", "TL-T3-220-SAL - TideLog T3 Marine, adds a conductivity and salinity sensor for sea water."),
        ("p", "Both variants share the same hull, electronics and battery, and can be mixed freely in "
              "one Keelhouse workspace."),
        ("h2", "Physical characteristics of the TideLog T3 buoy"),
        ("kv", "Hull diameter: 46 cm"),
        ("kv", "Overall height: 112 cm, including the antenna mast"),
        ("kv", "Buoy weight: 8.4 kg without mooring"),
        ("kv", "Hull material: UV-stabilised high-density polyethylene (HDPE), signal yellow"),
        ("kv", "Ingress protection: IP68, submersible to a depth of 10 m"),
        ("kv", "Sensor cage: marine-grade 316L stainless steel with an anti-fouling copper mesh"),
        ("p", "The hull is filled with closed-cell foam, so the buoy stays afloat even if the hull is "
              "punctured. A reflective band and a flashing amber LED (visible at 1.5 nautical miles) "
              "make the buoy easy to find at night."),
    ],
    [  # page 2: sensors, sampling, communications, power
        ("h1", "Sensors and Performance"),
        ("h2", "Measured parameters"),
        ("kv", "Dissolved oxygen: range 0 to 20 mg/L, accuracy 0.1 mg/L (optical luminescence sensor)"),
        ("kv", "pH: range 0 to 14, accuracy 0.02 pH units"),
        ("kv", "Water temperature: range -5 to 45 C, accuracy 0.1 C"),
        ("kv", "Turbidity: range 0 to 1,000 NTU"),
        ("kv", "Salinity (TL-T3-220-SAL only): range 0 to 42 PSU"),
        ("h2", "Sampling"),
        ("p", "The sampling interval can be set from 2 minutes to 24 hours in Keelhouse. The factory "
              "default sampling interval is 15 minutes. Between samples the buoy stores up to 90 days of "
              "readings in internal memory, so no data is lost while the radio link is down."),
        ("h2", "Communications"),
        ("li", "Primary link: LoRaWAN (EU868 or US915) through a Keelhouse Gateway G2 within about 8 km."),
        ("li", "Fallback link: LTE-M cellular with a built-in eSIM; cellular data is included in the "
              "Keelhouse subscription."),
        ("li", "Positioning: GPS, with a geofence alarm if the buoy drifts more than 50 m from its mooring."),
        ("h2", "Power"),
        ("p", "The T3 is powered by a 38 Ah lithium iron phosphate (LiFePO4) battery pack. At the default "
              "15-minute sampling interval the battery runtime is 14 months. The optional solar mast kit "
              "keeps the buoy running indefinitely at latitudes below 55 degrees. Battery packs are swapped "
              "in the field in under ten minutes without tools."),
    ],
    [  # page 3: environment, maintenance, ordering, accessories
        ("h1", "Environment, Maintenance and Ordering"),
        ("h2", "Operating conditions"),
        ("kv", "Operating temperature: -20 to 50 C (air)"),
        ("kv", "Maximum wave height: 4 m"),
        ("kv", "Maximum current: 2.5 knots with the standard mooring kit"),
        ("h2", "Maintenance"),
        ("p", "The dissolved oxygen and pH sensors should be calibrated every 6 months. The sensor cartridges "
              "slide out of the cage and can be calibrated on shore with the Lumenkeel calibration kit or "
              "returned for factory calibration. Clean the sensor cage whenever the buoy is recovered."),
        ("h2", "Ordering information"),
        ("kv", "TL-T3-220 TideLog T3 Standard: list price $3,980"),
        ("kv", "TL-T3-220-SAL TideLog T3 Marine: list price $4,450"),
        ("p", "Standard lead time is 4 to 6 weeks from order confirmation. Orders of 20 buoys or more are "
              "built to schedule; contact sales for delivery dates."),
        ("h2", "Accessories and spare parts"),
        ("kv", "TL-ACC-MK2 Mooring kit (chain, swivel, 25 kg anchor): $410"),
        ("kv", "TL-ACC-SM4 Solar mast kit (20 W panel and charge controller): $340"),
        ("kv", "TL-SP-DO1 Spare dissolved oxygen cartridge: $215"),
        ("kv", "TL-SP-BAT38 Spare 38 Ah battery pack: $290"),
        ("kv", "KG-G2-100 Keelhouse Gateway G2 (LoRaWAN gateway): $1,150"),
        ("p", "Compliance: FCC Part 15, CE, UKCA and RoHS. Designed and assembled in Portland, Maine."),
    ],
]

WARRANTY: list[Page] = [
    [  # page 1: standard limited warranty, coverage periods
        ("h1", "Lumenkeel Hardware Warranty and Returns Policy"),
        ("p", "Policy WR-2, effective March 1, 2024. Applies to TideLog buoys, Keelhouse gateways and "
              "accessories bought from Lumenkeel Systems, Inc. or an authorised reseller."),
        ("h2", "1. Standard limited warranty"),
        ("p", "Lumenkeel warrants that its hardware is free from defects in materials and workmanship "
              "under normal use. The warranty period starts on the date of shipment shown on the "
              "Lumenkeel invoice, not on the date of installation."),
        ("h2", "2. Warranty periods"),
        ("kv", "TideLog T3 buoy hull and electronics: 36 months"),
        ("kv", "Sensor cartridges (dissolved oxygen, pH, turbidity, salinity): 12 months"),
        ("kv", "Battery packs: 18 months"),
        ("kv", "Keelhouse Gateway G2 (KG-G2-100): 24 months"),
        ("kv", "Mooring kits and solar mast kits: 12 months, excluding the anchor"),
        ("p", "A battery pack that holds less than 70% of its rated capacity within the warranty period is "
              "treated as defective. Replacement parts are covered for the remainder of the original "
              "warranty period or for 90 days, whichever is longer."),
        ("h2", "3. What Lumenkeel will do"),
        ("p", "If a covered product fails during the warranty period, Lumenkeel will, at its option, repair "
              "the product or replace it with a new or refurbished unit of equal performance. Lumenkeel pays "
              "for shipping of warranty repairs in both directions within the United States, Canada and the "
              "European Union."),
    ],
    [  # page 2: returns and the RMA process
        ("h1", "Returns and the RMA Process"),
        ("h2", "4. Returning unused equipment"),
        ("p", "Unused equipment in its original packaging can be returned for a refund within 30 days of "
              "delivery. Returns of unused equipment are subject to a restocking fee of 15% of the purchase "
              "price. The customer pays the return shipping for returns that are not warranty claims. "
              "Custom-configured buoys and opened sensor cartridges cannot be returned."),
        ("h2", "5. Requesting an RMA"),
        ("p", "Every return, whether for a refund or under warranty, needs a Return Material Authorization "
              "(RMA) number. Request it in the Keelhouse support portal under Hardware > Returns, with the "
              "serial number of the device and a short description of the fault."),
        ("li", "An RMA number is valid for 20 days. Parcels that arrive after that are refused."),
        ("li", "Write the RMA number on the outside of the box and include a copy of the RMA form."),
        ("li", "Remove the battery pack before shipping a buoy by air; battery packs must be shipped "
               "separately as dangerous goods, class 9."),
        ("h2", "6. Repair turnaround"),
        ("p", "Warranty repairs are completed within 10 business days of the device arriving at the returns "
              "depot. If a repair will take longer, Lumenkeel offers a loaner buoy free of charge for the "
              "duration of the repair. Lumenkeel runs a diagnostic test on every returned unit; if no fault "
              "is found, a bench-test fee of $85 applies."),
    ],
    [  # page 3: extended coverage, out of warranty, exclusions, contact
        ("h1", "Extended Coverage, Exclusions and Contacts"),
        ("h2", "7. KeelCare Plus extended coverage"),
        ("p", "KeelCare Plus extends the hardware warranty year by year and adds advance replacement. It "
              "costs $120 per device per year and can be bought at any time while the standard warranty "
              "is still active. With KeelCare Plus, a replacement buoy is shipped within 2 business days of "
              "the RMA being approved, before the faulty unit is returned. Total coverage including "
              "KeelCare Plus cannot exceed 60 months from the date of shipment."),
        ("h2", "8. Out-of-warranty repairs"),
        ("p", "Buoys outside the warranty period are repaired for a flat fee of $275 per unit, plus the cost "
              "of any sensor cartridges or battery packs that must be replaced. Lumenkeel provides a written "
              "quote before starting any out-of-warranty repair."),
        ("h2", "9. Exclusions"),
        ("li", "Damage caused by ice, vessel strikes, lightning or storms stronger than the rated conditions."),
        ("li", "Opening the electronics housing, or installing firmware not published by Lumenkeel."),
        ("li", "Biofouling, normal wear of the copper anti-fouling mesh, and cosmetic scratches."),
        ("li", "Loss or theft of the device."),
        ("h2", "10. Where to send returns"),
        ("p", "Lumenkeel Returns Depot, 7 Foundry Court, Unit B, Biddeford, ME 04005, USA. "
              "European customers ship returns to the Aarhus office instead."),
        ("p", "Questions about warranty claims: warranty@lumenkeel.example, or the Warranty Manager, "
              "Colm Ashdown-Reyes."),
    ],
]

DOCUMENTS = {
    "tidelog_t3_datasheet.pdf": ("TideLog T3 Datasheet", DATASHEET),
    "warranty_and_returns.pdf": ("Lumenkeel Hardware Warranty and Returns Policy", WARRANTY),
}

FIXED_DATE = dt.datetime(2025, 2, 1, 9, 0, 0, tzinfo=dt.timezone.utc)


class _Doc(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 8, f"{self.footer_text} - page {self.page_no()}", align="C")
        self.set_text_color(0, 0, 0)


def build_pdf(title: str, pages: list[Page], out: Path) -> None:
    pdf = _Doc(format="A4")
    pdf.footer_text = f"Lumenkeel Systems, Inc. | {title}"
    pdf.set_title(title)
    pdf.set_author("Lumenkeel Systems, Inc.")
    # The script's old path: the committed PDFs carry it, and another name would change their bytes.
    pdf.set_creator("workbench/sample/build_pdfs.py")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=20)
    for blocks in pages:
        pdf.add_page()
        start = pdf.page_no()
        for kind, text in blocks:
            text.encode("latin-1")  # core fonts only: fail early on anything else
            if kind == "h1":
                pdf.set_font("Helvetica", "B", 16)
                pdf.set_text_color(11, 79, 108)
                pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
                pdf.set_text_color(0, 0, 0)
                pdf.ln(2)
            elif kind == "h2":
                pdf.ln(2)
                pdf.set_font("Helvetica", "B", 12)
                pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            elif kind == "p":
                pdf.set_font("Helvetica", "", 10)
                pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1.5)
            elif kind == "li":
                pdf.set_font("Helvetica", "", 10)
                pdf.set_x(pdf.l_margin + 4)
                pdf.multi_cell(0, 5, "- " + text, new_x="LMARGIN", new_y="NEXT")
            elif kind == "kv":
                label, value = text.split(": ", 1)
                pdf.set_font("Helvetica", "B", 10)
                pdf.cell(pdf.get_string_width(label + ": ") + 1, 5, label + ":")
                pdf.set_font("Helvetica", "", 10)
                pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")
            else:
                raise ValueError(kind)
        if pdf.page_no() != start:
            raise RuntimeError(f"{out.name}: page {start} overflowed; shorten its text")
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))


def main() -> None:
    for name, (title, pages) in DOCUMENTS.items():
        out = KB_DIR / name
        build_pdf(title, pages, out)
        print(f"wrote {out} ({len(pages)} pages, {out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
