"""Connect Sessions: the hosted flow a patient opens to connect their records."""
