SELECT ClinicNum, Description FROM clinic WHERE City='SPRINGFIELD' AND IsHidden=0;
